"""Text PostgreSQL cannot hold (NUL) and text that is no text (a lone surrogate) are refused at the edge with
a 422 that says so, at once — through every door: a campaign name, `q`, a suppression, a mapping value, a
directory or pipeline filter, a cursor that decodes to it, a JSON body. Before, such text reached a service,
failed there without an answer, and the gateway said 503 after its 15 s timeout (or 500, when it failed in
the gateway itself). Also: a failed item of a pipeline batch no longer sinks the batch, and a bulk action's
`q` that folds to nothing is refused rather than read as "every lead".
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from nats.aio.client import Client

from contracts import subjects
from contracts.commands import AddSuppression
from contracts.replies import Refusal, RefusalKind
from tests.e2e.api import create_campaign, start_import, wait_for_import, wait_for_leads, workspace_id_of
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack

# Far below the gateway's 15 s request timeout: an answer, not a timeout.
PROMPTLY = 5.0
NUL = "\u0000"
CSV = b"email,first_name\nana@alpha.example,Ana\nbob@beta.example,Bob\n"


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode().rstrip("=")


def refused(response: httpx.Response, *words: str) -> None:
    """A 422 naming the problem (by default, a NUL); the shape of `detail` is not this test's business."""
    assert response.status_code == 422, response.text
    for word in words or ("NUL character",):
        assert word in response.text, response.text


async def timed(request: Any) -> httpx.Response:
    started = time.monotonic()
    response: httpx.Response = await request
    took = time.monotonic() - started
    assert took < PROMPTLY, f"{took:.1f} s: {response.status_code} {response.text}"
    return response


@pytest.fixture
async def fresh(stack: ServiceStack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a workspace of its own (its pipeline and suppressions hold only what the test adds)."""
    key = create_workspace_key(stack, f"text {uuid4().hex[:6]}")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        yield http


async def test_nul_in_a_campaign_name_is_refused_at_once(client: httpx.AsyncClient) -> None:
    refused(await timed(client.post("/api/v1/campaigns", json={"name": f"Q4{NUL}"})), "NUL character", "name")


async def test_a_json_body_with_a_lone_surrogate_is_refused_not_a_500(client: httpx.AsyncClient) -> None:
    for path, raw in [
        ("/api/v1/campaigns", b'{"name": "\\ud800"}'),
        ("/api/v1/suppressions", b'{"email": "a@b.cz", "reason": "x\\udfff"}'),
        ("/api/v1/pipeline/leads/search", b'{"filter": {"q": "\\udbff"}}'),
    ]:
        response = await timed(client.post(path, content=raw, headers={"Content-Type": "application/json"}))
        # FastAPI's JSON parsing refuses it as not Unicode, before our own check could say "lone surrogate".
        assert response.status_code == 422, response.text
        assert "unicode string" in response.text or "lone surrogate" in response.text, response.text
    # A surrogate *pair* is one character, and welcome.
    pair = await client.post(
        "/api/v1/campaigns",
        content=b'{"name": "Q4 \\ud83d\\ude00"}',
        headers={"Content-Type": "application/json"},
    )
    assert pair.status_code == 201, pair.text
    assert pair.json()["name"] == "Q4 \U0001f600"


async def test_nul_in_the_leads_list_and_its_cursor_is_refused(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client, "text list")
    url = f"/api/v1/campaigns/{campaign_id}/leads"
    refused(await timed(client.get(url, params={"q": f"ana{NUL}"})), "NUL character", "q")
    # Cursors that decode to a sort value with a NUL or a lone surrogate.
    for value in (f"a{NUL}", "a\ud800"):
        cursor = _b64(json.dumps(["email", value, 1], ensure_ascii=False))
        response = await timed(client.get(url, params={"sort": "email", "cursor": cursor}))
        refused(response, "cursor")


async def test_nul_in_suppressions_is_refused_at_once(fresh: httpx.AsyncClient) -> None:
    refused(
        await timed(fresh.post("/api/v1/suppressions", json={"email": "a@firma.cz", "reason": f"x{NUL}"})),
        "NUL character",
        "reason",
    )
    refused(await timed(fresh.post("/api/v1/suppressions", json={"email": f"a{NUL}@firma.cz"})))
    refused(await timed(fresh.get("/api/v1/suppressions", params={"q": f"a{NUL}"})))
    # The list's cursor is a base64 address: one that decodes to a NUL is not one this API returned.
    cursor = base64.urlsafe_b64encode(f"a{NUL}@firma.cz".encode()).decode()
    refused(await timed(fresh.get("/api/v1/suppressions", params={"cursor": cursor})), "cursor")
    refused(await timed(fresh.delete("/api/v1/suppressions/a%00@firma.cz")))
    # Nothing was added by any of it.
    assert (await fresh.get("/api/v1/suppressions")).json()["total"] == 0


async def test_a_5000_character_address_to_unsuppress_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    response = await timed(client.delete(f"/api/v1/suppressions/{'a' * 4990}@firma.cz"))
    refused(response, "320")


async def test_nul_in_a_mapping_value_is_refused_at_once(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client, "text mapping")
    url = f"/api/v1/campaigns/{campaign_id}/imports"
    response = await timed(
        client.post(
            url,
            files={"file": ("leads.csv", CSV, "text/csv")},
            data={"mapping": json.dumps({"email": "email", "first_name": f"first{NUL}name"})},
        )
    )
    refused(response, "NUL character", "first_name")
    surrogate = json.dumps({"email": "email", "first_name": "\ud800"})  # ASCII: the escape survives the form
    response = await timed(
        client.post(url, files={"file": ("leads.csv", CSV, "text/csv")}, data={"mapping": surrogate})
    )
    refused(response, "lone surrogate")
    # The same import with a clean mapping goes through.
    started = await start_import(client, campaign_id, CSV, {"email": "email", "first_name": "first_name"})
    assert (await wait_for_import(client, started["id"]))["state"] == "completed"


def _multipart(filename: bytes, fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A form with a file whose name is these very bytes (httpx would percent-escape a NUL)."""
    boundary = b"leadflowboundary"
    parts = [
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="'
        + name.encode()
        + b'"\r\n\r\n'
        + value.encode()
        + b"\r\n"
        for name, value in fields.items()
    ]
    parts.append(
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: text/csv\r\n\r\n'
        + CSV
        + b"\r\n"
    )
    body = b"".join(parts) + b"--" + boundary + b"--\r\n"
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}


async def test_an_upload_whose_name_has_nul_or_is_too_long_is_refused(fresh: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(fresh, "text upload name")
    mapping = json.dumps({"email": "email"})
    body, headers = _multipart(b"leads\x00.csv", {"mapping": mapping})
    response = await timed(
        fresh.post(f"/api/v1/campaigns/{campaign_id}/imports", content=body, headers=headers)
    )
    refused(response, "NUL character", "name")
    body, headers = _multipart(b"list\x00.csv", {})
    refused(await timed(fresh.post("/api/v1/suppressions/upload", content=body, headers=headers)))
    body, headers = _multipart(b"x" * 600 + b".csv", {})
    refused(
        await timed(fresh.post("/api/v1/suppressions/upload", content=body, headers=headers)), "at most 500"
    )
    assert (await fresh.get("/api/v1/suppressions")).json()["total"] == 0


async def test_nul_in_a_directory_filter_or_cursor_is_refused_at_once(client: httpx.AsyncClient) -> None:
    for params in ({"q": f"a{NUL}"}, {"city": f"Praha{NUL}"}, {"country": ["CZ", f"S{NUL}K"]}):
        refused(await timed(client.get("/api/v1/directory/companies", params=params)))
    refused(await timed(client.get("/api/v1/directory/facets", params={"country": f"C{NUL}Z"})))
    body = {"filter": {"industry": [f"IT{NUL}"]}}
    refused(await timed(client.post("/api/v1/directory/companies/search", json=body)))
    campaign_id = await create_campaign(client, "text directory")
    response = await timed(
        client.post(f"/api/v1/campaigns/{campaign_id}/imports/directory", json={"filter": {"q": f"x{NUL}"}})
    )
    refused(response)
    # A cursor is a position; one past what PostgreSQL can hold is not one this API returned.
    for raw in (f"1{NUL}", str(2**63)):
        response = await timed(client.get("/api/v1/directory/companies", params={"cursor": _b64(raw)}))
        refused(response, "cursor")


async def test_nul_in_a_pipeline_filter_or_cursor_is_refused_at_once(client: httpx.AsyncClient) -> None:
    for params in ({"q": f"a{NUL}"}, {"stage": f"won{NUL}"}, {"city": f"Brno{NUL}"}):
        refused(await timed(client.get("/api/v1/pipeline/leads", params=params)))
    refused(await timed(client.post("/api/v1/pipeline/leads/search", json={"filter": {"q": f"{NUL}"}})))
    refused(await timed(client.get("/api/v1/pipeline/leads", params={"cursor": _b64(str(2**64))})), "cursor")
    campaign_id = await create_campaign(client, "text pipeline")
    response = await timed(
        client.post(
            f"/api/v1/campaigns/{campaign_id}/imports/pipeline", json={"filter": {"industry": f"IT{NUL}"}}
        )
    )
    refused(response)


async def test_one_lead_with_nul_does_not_sink_the_other_fifty(fresh: httpx.AsyncClient) -> None:
    leads: list[Any] = [{"email": f"lead{i}@firma.cz", "first_name": f"Lead {i}"} for i in range(51)]
    leads[17] = {"email": "lead17@firma.cz", "first_name": f"Le{NUL}ad"}
    leads[30] = {"email": "lead30@firma.cz", "company_name": "Acme\ud800"}
    # json.dumps writes the surrogate as its escape, as a client would send it.
    raw = json.dumps(leads).encode()
    created = await timed(
        fresh.post("/api/v1/pipeline/leads", content=raw, headers={"Content-Type": "application/json"})
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["created"] == 49 and body["updated"] == 0
    assert sorted(s["index"] for s in body["stored"]) == [i for i in range(51) if i not in (17, 30)]
    errors = {e["index"]: e["error"] for e in body["errors"]}
    assert sorted(errors) == [17, 30]
    assert errors[17].startswith("first_name: contains the NUL character"), errors[17]
    # (pydantic itself refuses a lone surrogate as "not a valid string" before our check sees it.)
    assert errors[30].startswith("company_name: "), errors[30]
    assert "unicode string" in errors[30] or "lone surrogate" in errors[30], errors[30]
    listed = (await fresh.get("/api/v1/pipeline/leads", params={"limit": 200})).json()
    assert listed["total"] == 49


async def test_bulk_reason_and_filter_with_nul_are_refused(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client, "text bulk")
    url = f"/api/v1/campaigns/{campaign_id}/leads/bulk"
    for body in (
        {"action": "set_status", "status": "replied", "filter": {}, "reason": f"why{NUL}"},
        {"action": "remove", "filter": {"q": f"ana{NUL}"}},
    ):
        refused(await timed(client.post(url, json=body)))


@pytest.mark.parametrize("q", ["", " ", "\u0301", "\u00b4", " \u0308 \u00a8 "])
async def test_a_bulk_q_that_folds_to_nothing_is_refused_while_the_list_shows_everything(
    client: httpx.AsyncClient, q: str
) -> None:
    campaign_id = await create_campaign(client, "text bulk q")
    started = await start_import(client, campaign_id, CSV, {"email": "email", "first_name": "first_name"})
    assert (await wait_for_import(client, started["id"]))["state"] == "completed"
    await wait_for_leads(client, campaign_id, 2)
    url = f"/api/v1/campaigns/{campaign_id}/leads/bulk"
    response = await client.post(url, json={"action": "remove", "filter": {"q": q}})
    refused(response, "nothing to search for")
    # The list reads such a q as no text filter (documented in docs/architecture.md).
    listed = await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"q": q})
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == 2
    # A q with something to search for still selects just that.
    job = await client.post(url, json={"action": "remove", "filter": {"q": "ána"}})
    assert job.status_code == 202 and job.json()["total"] == 1, job.text


async def test_a_raw_command_with_nul_is_answered_by_the_importer_itself(
    nc: Client, client: httpx.AsyncClient
) -> None:
    """Around the gateway: the importer refuses the command and says why, at once."""
    command = AddSuppression(workspace_id=await workspace_id_of(client), email="raw@firma.cz")
    payload = command.model_dump(mode="json") | {"reason": f"raw{NUL}"}
    started = time.monotonic()
    msg = await nc.request(
        subjects.command_subject("importer", "add_suppression"),
        json.dumps(payload).encode(),
        timeout=PROMPTLY,
    )
    assert time.monotonic() - started < PROMPTLY
    reply = Refusal.model_validate_json(msg.data)
    assert reply.kind is RefusalKind.INVALID
    assert "reason: contains the NUL character" in reply.message
    listed = (await client.get("/api/v1/suppressions", params={"q": "raw@firma.cz"})).json()
    assert listed["total"] == 0
