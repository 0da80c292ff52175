"""Uploading a suppression list as a CSV: every row counted, bad rows reported, limits enforced."""

from __future__ import annotations

import httpx

from tests.e2e.api import create_campaign, refusal, start_import, wait_for_import
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack


async def upload(client: httpx.AsyncClient, data: bytes, **form: str) -> httpx.Response:
    return await client.post(
        "/api/v1/suppressions/upload", files={"file": ("blocked.csv", data, "text/csv")}, data=form
    )


async def test_an_uploaded_list_suppresses_its_addresses_and_reports_every_bad_row(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    key = create_workspace_key(stack, "Suppression uploads")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as own:
        added = await own.post("/api/v1/suppressions", json={"email": "known@firma.cz"})
        assert added.status_code == 201, added.text
        data = (
            "Jméno;E-mail;Poznámka\r\n"
            "Jiří;jiri@firma.cz;odhlásil se\r\n"
            "Known;KNOWN@firma.cz;\r\n"
            "Bad;není adresa;\r\n"
            "\r\n"
            "Repeat;Jiri@Firma.cz;\r\n"
            "Empty;;poznámka\r\n"
            "Žofie;zofie@firma.cz;\r\n"
        ).encode("cp1250")
        response = await upload(own, data, reason="asked us by phone")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["added"], body["already"]) == (2, 2)
        assert [(r["row"], r["value"]) for r in body["rejected"]] == [(4, "není adresa"), (7, "")]
        assert all(r["reason"] for r in body["rejected"])

        listed = (await own.get("/api/v1/suppressions", params={"q": "firma.cz"})).json()
        reasons = {i["email"]: i["reason"] for i in listed["items"]}
        assert reasons == {
            "jiri@firma.cz": "asked us by phone",
            "known@firma.cz": "added by hand",
            "zofie@firma.cz": "asked us by phone",
        }

        # Uploading the same file again adds nothing; a headerless list reads its first column.
        again = (await upload(own, data)).json()
        assert (again["added"], again["already"], len(again["rejected"])) == (0, 4, 2)
        headerless = (await upload(own, b"new@firma.cz\nzofie@firma.cz\n")).json()
        assert headerless == {"added": 1, "already": 1, "rejected": []}
        by_file = (await own.get("/api/v1/suppressions", params={"q": "new@"})).json()["items"]
        assert by_file[0]["reason"] == "uploaded list blocked.csv"

        campaign_id = await create_campaign(own, "after the upload")
        started = await start_import(
            own, campaign_id, b"email\nzofie@firma.cz\nfresh@firma.cz\n", {"email": "email"}
        )
        done = await wait_for_import(own, started["id"])
        assert (done["counts"]["suppressed"], done["counts"]["imported"]) == (1, 1)

    # Another workspace's list is untouched.
    assert (await client.get("/api/v1/suppressions", params={"q": "zofie"})).json()["total"] == 0


async def test_an_upload_that_is_too_large_or_unreadable_is_refused(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    assert (await upload(client, b"")).status_code == 422
    unreadable = await upload(client, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "binary" in refusal(unreadable)

    small = stack.extra("gateway", LEADFLOW_SUPPRESSION_UPLOAD_MAX_BYTES="1000")
    small.start()
    try:
        async with httpx.AsyncClient(base_url=small.base_url, headers=client.headers, timeout=30) as limited:
            response = await upload(limited, b"email\n" + b"x@firma.cz\n" * 100)
            assert response.status_code == 413, response.text
            assert (await upload(limited, b"email\nfits@firma.cz\n")).status_code == 200
    finally:
        small.stop()


async def test_the_list_pages_by_its_cursor_and_refuses_one_it_did_not_hand_out(stack: ServiceStack) -> None:
    key = create_workspace_key(stack, "Suppression pages")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as own:
        for email in ("a@firma.cz", "b@firma.cz", "c@firma.cz"):
            assert (await own.post("/api/v1/suppressions", json={"email": email})).status_code == 201
        first = (await own.get("/api/v1/suppressions", params={"limit": 2})).json()
        assert [i["email"] for i in first["items"]] == ["a@firma.cz", "b@firma.cz"]
        rest = (
            await own.get("/api/v1/suppressions", params={"limit": 2, "cursor": first["next_cursor"]})
        ).json()
        assert ([i["email"] for i in rest["items"]], rest["next_cursor"]) == (["c@firma.cz"], None)
        for foreign in ("!!!", "nonsense", first["next_cursor"] + "!", "WzEsMl0"):
            refused = await own.get("/api/v1/suppressions", params={"cursor": foreign})
            assert "cursor" in refusal(refused), foreign
