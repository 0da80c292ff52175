"""`GET /campaigns/{id}/validation`: the summary a user waits on before activating a campaign.

The stack runs no validator, so the tests play its two parts themselves: they publish `LeadValidated`
events to JetStream (what the gateway projects into `lead_view`), and, in one test, answer the
`GetValidationStatus` request the gateway sends for the `validator` part of the summary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from nats.aio.client import Client
from nats.aio.msg import Msg

from contracts import subjects
from contracts.commands import GetValidationStatus, ValidationStatusReply
from contracts.events import Verdict
from tests.e2e.api import (
    create_campaign,
    publish_verdict,
    publish_verdicts,
    start_import,
    wait_for_import,
    wait_for_leads,
    workspace_id_of,
)
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack

CSV = (
    b"email,first_name\n"
    b"ana@valid.example,Ana\n"
    b"bob@invalid.example,Bob\n"
    b"cyril@catchall.example,Cyril\n"
    b"dana@later.example,Dana\n"
)
MAPPING = {"email": "email", "first_name": "first_name"}
STATUS_SUBJECT = subjects.command_subject("validator", "validation_status")


async def campaign_with_leads(client: httpx.AsyncClient) -> tuple[str, dict[str, dict[str, Any]]]:
    """A campaign with the CSV's four leads imported through the API, keyed by email."""
    campaign_id = await create_campaign(client, "Validation summary")
    started = await start_import(client, campaign_id, CSV, MAPPING)
    done = await wait_for_import(client, started["id"])
    assert done["state"] == "completed", done
    page = await wait_for_leads(client, campaign_id, 4)
    return campaign_id, {item["email"]: item for item in page["items"]}


async def summary(client: httpx.AsyncClient, campaign_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/validation")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for_summary(
    client: httpx.AsyncClient,
    campaign_id: str,
    done: Callable[[dict[str, Any]], bool],
    within: float = 30,
) -> dict[str, Any]:
    """The projection is eventually consistent: poll until the summary has caught up."""
    deadline = time.monotonic() + within
    while True:
        body = await summary(client, campaign_id)
        if done(body):
            return body
        assert time.monotonic() < deadline, f"summary never caught up: {body}"
        await asyncio.sleep(0.2)


async def leads_where(
    client: httpx.AsyncClient, campaign_id: str, **params: Any
) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params=params)
    assert response.status_code == 200, response.text
    return {item["email"]: item for item in response.json()["items"]}


async def test_summary_counts_verdicts_and_reasons_without_a_validator(
    client: httpx.AsyncClient, nc: Client
) -> None:
    workspace_id = await workspace_id_of(client)
    campaign_id, leads = await campaign_with_leads(client)

    started = time.monotonic()
    before = await summary(client, campaign_id)
    # No validator runs: the counts still answer, and without waiting out the 15 s request timeout.
    assert time.monotonic() - started < 5
    assert before == {
        "campaign_id": campaign_id,
        "total": 4,
        "validated": 0,
        "in_progress": 4,
        "valid": 0,
        "invalid": 0,
        "unknown": 0,
        "percent": 0.0,
        "reasons": {},
        "validator": {"state": "unavailable", "queued": None, "held": None, "reason": None},
    }

    await publish_verdict(
        nc, workspace_id, campaign_id, leads["ana@valid.example"], Verdict.VALID, "accepted"
    )
    await publish_verdict(
        nc,
        workspace_id,
        campaign_id,
        leads["bob@invalid.example"],
        Verdict.INVALID,
        "mailbox_not_found",
        smtp_code=550,
    )
    await publish_verdict(
        nc,
        workspace_id,
        campaign_id,
        leads["cyril@catchall.example"],
        Verdict.UNKNOWN,
        "catch_all",
        catch_all=True,
    )

    partial = await wait_for_summary(client, campaign_id, lambda body: body["validated"] == 3)
    assert partial == {
        "campaign_id": campaign_id,
        "total": 4,
        "validated": 3,
        "in_progress": 1,
        "valid": 1,
        "invalid": 1,
        "unknown": 1,
        "percent": 75.0,
        "reasons": {"accepted": 1, "mailbox_not_found": 1, "catch_all": 1},
        "validator": {"state": "unavailable", "queued": None, "held": None, "reason": None},
    }

    listed = await leads_where(client, campaign_id)
    bob = listed["bob@invalid.example"]
    assert (bob["status"], bob["validation"], bob["validation_reason"]) == (
        "invalid",
        "invalid",
        "mailbox_not_found",
    )
    cyril = listed["cyril@catchall.example"]
    assert (cyril["status"], cyril["validation"], cyril["validation_reason"]) == (
        "pending",
        "unknown",
        "catch_all",
    )
    dana = listed["dana@later.example"]
    assert (dana["validation"], dana["validation_reason"]) == ("pending", None)

    assert set(await leads_where(client, campaign_id, validation="invalid")) == {"bob@invalid.example"}
    assert set(await leads_where(client, campaign_id, validation="pending")) == {"dana@later.example"}
    assert set(await leads_where(client, campaign_id, validation="valid", status="invalid")) == set()
    bogus = await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"validation": "maybe"})
    assert bogus.status_code == 422, bogus.text

    await publish_verdict(
        nc, workspace_id, campaign_id, leads["dana@later.example"], Verdict.VALID, "accepted"
    )
    finished = await wait_for_summary(client, campaign_id, lambda body: body["in_progress"] == 0)
    assert (finished["total"], finished["validated"], finished["percent"]) == (4, 4, 100.0)
    assert (finished["valid"], finished["invalid"], finished["unknown"]) == (2, 1, 1)
    assert finished["reasons"] == {"accepted": 2, "mailbox_not_found": 1, "catch_all": 1}


async def test_a_batch_of_verdicts_is_listed_lead_by_lead_with_each_verdict_in_its_leads_timeline(
    client: httpx.AsyncClient, nc: Client
) -> None:
    workspace_id = await workspace_id_of(client)
    campaign_id, leads = await campaign_with_leads(client)

    batch = await publish_verdicts(
        nc,
        workspace_id,
        campaign_id,
        [
            (leads["ana@valid.example"], Verdict.VALID, "accepted"),
            (leads["bob@invalid.example"], Verdict.INVALID, "mailbox_not_found"),
            (leads["cyril@catchall.example"], Verdict.UNKNOWN, "catch_all"),
        ],
    )

    done = await wait_for_summary(client, campaign_id, lambda body: body["validated"] == 3)
    assert (done["valid"], done["invalid"], done["unknown"], done["in_progress"]) == (1, 1, 1, 1)
    assert done["reasons"] == {"accepted": 1, "mailbox_not_found": 1, "catch_all": 1}
    listed = await leads_where(client, campaign_id)
    assert {
        email: (lead["status"], lead["validation"], lead["validation_reason"])
        for email, lead in listed.items()
    } == {
        "ana@valid.example": ("pending", "valid", "accepted"),
        "bob@invalid.example": ("invalid", "invalid", "mailbox_not_found"),
        "cyril@catchall.example": ("pending", "unknown", "catch_all"),
        "dana@later.example": ("pending", "pending", None),
    }
    for email, verdict, reason in [
        ("ana@valid.example", "valid", "accepted"),
        ("bob@invalid.example", "invalid", "mailbox_not_found"),
        ("cyril@catchall.example", "unknown", "catch_all"),
    ]:
        detail = (await client.get(f"/api/v1/leads/{leads[email]['id']}")).json()
        [entry] = [e for e in detail["timeline"] if e["type"] != "lead_imported"]
        assert (entry["type"], entry["source"]) == ("lead_validated", "validator")
        assert datetime.fromisoformat(entry["at"]) == batch.occurred_at
        assert entry["summary"]["email"] == email
        assert (entry["summary"]["verdict"], entry["summary"]["reason"]) == (verdict, reason)


async def test_a_rerun_that_finds_a_lead_valid_returns_it_from_invalid_and_its_timeline_shows_both(
    client: httpx.AsyncClient, nc: Client
) -> None:
    workspace_id = await workspace_id_of(client)
    campaign_id, leads = await campaign_with_leads(client)
    poisoned = [(lead, Verdict.INVALID, "no_such_domain") for lead in leads.values()]
    await publish_verdicts(nc, workspace_id, campaign_id, poisoned)
    broken = await wait_for_summary(client, campaign_id, lambda body: body["invalid"] == 4)
    assert broken["reasons"] == {"no_such_domain": 4}
    assert set(await leads_where(client, campaign_id, status="invalid")) == set(leads)

    ana, bob = leads["ana@valid.example"], leads["bob@invalid.example"]
    await publish_verdicts(
        nc,
        workspace_id,
        campaign_id,
        [(ana, Verdict.VALID, "accepted"), (bob, Verdict.INVALID, "mailbox_not_found")],
        run=1,
    )
    fixed = await wait_for_summary(client, campaign_id, lambda body: body["valid"] == 1)
    assert fixed["reasons"] == {"accepted": 1, "mailbox_not_found": 1, "no_such_domain": 2}
    listed = await leads_where(client, campaign_id)
    assert (listed[ana["email"]]["status"], listed[ana["email"]]["validation"]) == ("pending", "valid")
    assert (listed[bob["email"]]["status"], listed[bob["email"]]["validation"]) == ("invalid", "invalid")
    assert set(await leads_where(client, campaign_id, status="pending")) == {ana["email"]}
    detail = (await client.get(f"/api/v1/leads/{ana['id']}")).json()
    verdicts = [entry["summary"] for entry in detail["timeline"] if entry["type"] == "lead_validated"]
    assert [(v["run"], v["verdict"], v["reason"]) for v in verdicts] == [
        (0, "invalid", "no_such_domain"),
        (1, "valid", "accepted"),
    ]

    # The first run's verdicts, delivered again late, change nothing.
    await publish_verdicts(nc, workspace_id, campaign_id, [(ana, Verdict.INVALID, "no_such_domain")])
    await publish_verdict(nc, workspace_id, campaign_id, bob, Verdict.VALID, "accepted")
    # Verdicts are projected in the stream's order: once a later one is listed, so are the late ones.
    dana = leads["dana@later.example"]
    await publish_verdicts(nc, workspace_id, campaign_id, [(dana, Verdict.VALID, "accepted")], run=1)
    await wait_for_summary(client, campaign_id, lambda body: body["valid"] == 2)
    again = await leads_where(client, campaign_id)
    assert (again[ana["email"]]["status"], again[ana["email"]]["validation"]) == ("pending", "valid")
    assert (again[bob["email"]]["status"], again[bob["email"]]["validation"]) == ("invalid", "invalid")


async def test_summary_reports_the_validators_queue_and_health(client: httpx.AsyncClient, nc: Client) -> None:
    workspace_id = await workspace_id_of(client)
    campaign_id = await create_campaign(client, "Validator answers")
    asked: list[GetValidationStatus] = []

    async def answer(msg: Msg) -> None:
        asked.append(GetValidationStatus.model_validate_json(msg.data))
        reply = ValidationStatusReply(
            queued=3, held=2, degraded=True, reason="resolver answers NXDOMAIN for known domains"
        )
        await msg.respond(reply.model_dump_json().encode())

    subscription = await nc.subscribe(STATUS_SUBJECT, cb=answer)
    await nc.flush()
    try:
        body = await summary(client, campaign_id)
    finally:
        await subscription.unsubscribe()

    assert body["validator"] == {
        "state": "degraded",
        "queued": 3,
        "held": 2,
        "reason": "resolver answers NXDOMAIN for known domains",
    }
    assert asked == [GetValidationStatus(workspace_id=workspace_id, campaign_id=UUID(campaign_id))]
    # No leads yet: nothing to wait for.
    assert (body["total"], body["validated"], body["in_progress"], body["percent"]) == (0, 0, 0, 100.0)
    assert body["reasons"] == {}

    async def healthy(msg: Msg) -> None:
        await msg.respond(ValidationStatusReply(queued=7).model_dump_json().encode())

    subscription = await nc.subscribe(STATUS_SUBJECT, cb=healthy)
    await nc.flush()
    try:
        body = await summary(client, campaign_id)
    finally:
        await subscription.unsubscribe()
    assert body["validator"] == {"state": "ok", "queued": 7, "held": 0, "reason": None}


async def test_summary_is_workspace_scoped_and_documented(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    campaign_id = await create_campaign(client, "Not yours")
    other_key = create_workspace_key(stack, "Someone else")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        foreign = await other.get(f"/api/v1/campaigns/{campaign_id}/validation")
        assert foreign.status_code == 404, foreign.text
    unknown = await client.get(f"/api/v1/campaigns/{uuid4()}/validation")
    assert unknown.status_code == 404, unknown.text
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as nobody:
        anonymous = await nobody.get(f"/api/v1/campaigns/{campaign_id}/validation")
        assert anonymous.status_code == 401

    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/campaigns/{campaign_id}/validation"]["get"]
    schema_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert {"total", "validated", "in_progress", "percent", "reasons", "validator"} <= set(
        schema["properties"]
    )
    assert "pending" in schema["properties"]["in_progress"]["description"]
