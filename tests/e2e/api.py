"""Small helpers for driving the HTTP API in tests."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from uuid import UUID

import httpx
import nats
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts import LeadValidated, Verdict, parse_event, subjects
from contracts.events import LeadsValidated, ValidatedLead


async def create_campaign(client: httpx.AsyncClient, name: str = "Q4 Prague agencies") -> str:
    response = await client.post("/api/v1/campaigns", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def start_import(
    client: httpx.AsyncClient,
    campaign_id: str,
    csv: bytes,
    mapping: dict[str, str],
    filename: str = "leads.csv",
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        files={"file": (filename, csv, "text/csv")},
        data={"mapping": json.dumps(mapping)},
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for_import(client: httpx.AsyncClient, import_id: str, within: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"/api/v1/imports/{import_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] != "running":
            return body
        assert time.monotonic() < deadline, f"import still running: {body}"
        await asyncio.sleep(0.2)


async def wait_for_leads(
    client: httpx.AsyncClient, campaign_id: str, total: int, within: float = 60, **params: Any
) -> dict[str, Any]:
    """The read model is eventually consistent: poll until the projection has caught up."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["total"] >= total:
            return body
        assert time.monotonic() < deadline, f"only {body['total']} of {total} leads listed"
        await asyncio.sleep(0.2)


async def workspace_id_of(client: httpx.AsyncClient) -> UUID:
    response = await client.get("/api/v1/workspace")
    assert response.status_code == 200, response.text
    return UUID(response.json()["id"])


async def publish_verdict(
    nc: Client,
    workspace_id: UUID,
    campaign_id: str,
    lead: dict[str, Any],
    verdict: Verdict,
    reason: str,
    **extra: Any,
) -> None:
    """What the validator would publish: straight to the stream, deduplicated by the event id."""
    event = LeadValidated(
        workspace_id=workspace_id,
        campaign_id=UUID(campaign_id),
        lead_id=UUID(lead["id"]),
        email=lead["email"],
        verdict=verdict,
        reason=reason,
        mx="mx." + lead["email"].split("@")[1],
        smtp_code=extra.pop("smtp_code", 550 if verdict is Verdict.INVALID else 250),
        **extra,
    )
    await nc.jetstream().publish(
        event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
    )


async def publish_verdicts(
    nc: Client,
    workspace_id: UUID,
    campaign_id: str,
    verdicts: list[tuple[dict[str, Any], Verdict, str]],
    run: int = 0,
) -> LeadsValidated:
    """What the validator publishes: one `LeadsValidated` carrying (lead, verdict, reason) for each lead."""
    event = LeadsValidated(
        workspace_id=workspace_id,
        campaign_id=UUID(campaign_id),
        leads=[
            ValidatedLead(
                lead_id=UUID(lead["id"]),
                email=lead["email"],
                verdict=verdict,
                reason=reason,
                mx="mx." + lead["email"].split("@")[1],
                smtp_code=550 if verdict is Verdict.INVALID else 250,
                run=run,
            )
            for lead, verdict, reason in verdicts
        ],
    )
    await nc.jetstream().publish(
        event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
    )
    return event


async def stream_events(nats_url: str, workspace_id: str, event_type: str) -> list[Any]:
    """Every event of one type the stream holds for a workspace, oldest first (read by an ordered consumer)."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().subscribe(
            subjects.event_subject(workspace_id, event_type),
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        found = []
        try:
            while True:
                found.append(parse_event((await sub.next_msg(timeout=1.0)).data))
        except TimeoutError:
            pass
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


def refusal(response: httpx.Response) -> str:
    """A 422's message: its `detail` is FastAPI's array form (a route's own message has loc ["request"])."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    assert all({"loc", "msg", "type"} <= set(issue) for issue in detail), detail
    return "; ".join(str(issue["msg"]) for issue in detail)
