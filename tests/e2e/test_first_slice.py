"""The first slice, end to end through HTTP: CSV upload → importer → events → lead_view → leads list."""

from __future__ import annotations

import httpx

from tests.e2e.api import create_campaign, refusal, start_import, wait_for_import, wait_for_leads
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack

CSV = (
    "E-mail;Jméno;Příjmení;Firma;Město;Poznámka\r\n"
    "Jan.Novak@Firma.cz;Jan;Novák;Firma s.r.o.;Praha;VIP\r\n"
    "jan.novak@firma.cz;Jan;Novák;Firma s.r.o.;Praha;duplicate in case only\r\n"
    "  mailto:eva.svobodova@example.com ;Eva;Svobodová;Example a.s.;Brno;\r\n"
    "not-an-address;Petr;Dvořák;Nic;Ostrava;\r\n"
    ";Jana;Černá;Bez adresy;Plzeň;\r\n"
    'petr@bücher.de;Petr;Bücher;"Bücher; GmbH";Berlin;"quoted ; delimiter"\r\n'
).encode()

MAPPING = {
    "email": "E-mail",
    "first_name": "Jméno",
    "last_name": "Příjmení",
    "company_name": "Firma",
    "city": "Město",
}


async def test_csv_import_lists_pending_leads(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client)
    started = await start_import(client, campaign_id, CSV, MAPPING)
    assert started["state"] in ("running", "completed")

    done = await wait_for_import(client, started["id"])
    assert done["state"] == "completed", done
    assert done["percent"] == 100
    assert done["counts"] == {
        "imported": 3,
        "duplicate_in_file": 1,
        "already_in_campaign": 0,
        "suppressed": 0,
        "invalid_format": 1,
        "missing_email": 1,
        "rejected": 0,
    }

    page = await wait_for_leads(client, campaign_id, 3)
    assert page["total"] == 3
    by_email = {item["email"]: item for item in page["items"]}
    assert set(by_email) == {"Jan.Novak@firma.cz", "eva.svobodova@example.com", "petr@xn--bcher-kva.de"}
    jan = by_email["Jan.Novak@firma.cz"]
    assert jan["company_name"] == "Firma s.r.o."
    assert jan["first_name"] == "Jan"
    assert jan["status"] == "pending"
    assert jan["step"] == 0 and jan["total_steps"] == 0
    assert jan["validation"] == "pending"
    assert jan["last_activity_at"] is not None
    assert by_email["petr@xn--bcher-kva.de"]["company_name"] == "Bücher; GmbH"

    detail = (await client.get(f"/api/v1/leads/{jan['id']}")).json()
    assert detail["custom"] == {"Poznámka": "VIP"}
    assert detail["city"] == "Praha"

    filtered = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"q": "svobod"})).json()
    assert [i["email"] for i in filtered["items"]] == ["eva.svobodova@example.com"]
    none_contacted = await client.get(
        f"/api/v1/campaigns/{campaign_id}/leads", params={"status": "contacted"}
    )
    assert none_contacted.json() == {
        "items": [],
        "total": 0,
        "next_cursor": None,
        "total_is_estimate": False,
        "arriving": 0,
    }

    first = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await client.get(
            f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in rest["items"]})

    # Importing the same file again: everything is already in the campaign, nothing is duplicated.
    again = await wait_for_import(client, (await start_import(client, campaign_id, CSV, MAPPING))["id"])
    assert again["counts"]["imported"] == 0
    assert again["counts"]["already_in_campaign"] == 3
    assert again["counts"]["duplicate_in_file"] == 1
    assert (await client.get(f"/api/v1/campaigns/{campaign_id}/leads")).json()["total"] == 3


async def test_bad_requests_get_clear_errors(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client)
    no_email = await client.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        files={"file": ("a.csv", b"name\nx\n", "text/csv")},
        data={"mapping": '{"first_name": "name"}'},
    )
    assert "email" in refusal(no_email)
    bad_json = await client.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        files={"file": ("a.csv", b"email\nx@y.cz\n", "text/csv")},
        data={"mapping": "{not json"},
    )
    assert bad_json.status_code == 422
    missing_column = await start_import(client, campaign_id, b"Mail\nx@firma.cz\n", {"email": "E-mail"})
    failed = await wait_for_import(client, missing_column["id"])
    assert failed["state"] == "failed"
    assert "E-mail" in failed["error"] and "Mail" in failed["error"]


async def test_another_workspace_sees_404(client: httpx.AsyncClient, stack: ServiceStack) -> None:
    campaign_id = await create_campaign(client, "private")
    started = await start_import(client, campaign_id, b"email\nsecret@firma.cz\n", {"email": "email"})
    await wait_for_import(client, started["id"])
    page = await wait_for_leads(client, campaign_id, 1)
    lead_id = page["items"][0]["id"]

    other_key = create_workspace_key(stack, "Competitor")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {other_key}"}
    ) as other:
        assert (await other.get(f"/api/v1/campaigns/{campaign_id}")).status_code == 404
        assert (await other.get(f"/api/v1/campaigns/{campaign_id}/leads")).status_code == 404
        assert (await other.get(f"/api/v1/leads/{lead_id}")).status_code == 404
        assert (await other.get(f"/api/v1/imports/{started['id']}")).status_code == 404
        upload = await other.post(
            f"/api/v1/campaigns/{campaign_id}/imports",
            files={"file": ("a.csv", b"email\nx@firma.cz\n", "text/csv")},
            data={"mapping": '{"email": "email"}'},
        )
        assert upload.status_code == 404
        assert all(c["id"] != campaign_id for c in (await other.get("/api/v1/campaigns")).json())

    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        assert (await anonymous.get(f"/api/v1/campaigns/{campaign_id}")).status_code == 401
        wrong = await anonymous.get("/api/v1/campaigns", headers={"Authorization": "Bearer lf_nope"})
        assert wrong.status_code == 401
