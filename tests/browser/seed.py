"""Setting up campaigns and leads over the HTTP API (and the event stream) for the browser tests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import nats

from contracts import EmailBounced, LeadUnsubscribed
from contracts.events import Event


def create_campaign(api: httpx.Client, name: str) -> str:
    response = api.post("/api/v1/campaigns", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def import_csv(api: httpx.Client, campaign_id: str, csv: str, mapping: dict[str, str]) -> dict[str, Any]:
    started = api.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        files={"file": ("leads.csv", csv.encode(), "text/csv")},
        data={"mapping": json.dumps(mapping)},
    )
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = api.get(f"/api/v1/imports/{started.json()['id']}").json()
        if body["state"] != "running":
            assert body["state"] == "completed", body
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def leads(api: httpx.Client, campaign_id: str, **params: Any) -> dict[str, Any]:
    response = api.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for_leads(api: httpx.Client, campaign_id: str, total: int, **params: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (body := leads(api, campaign_id, **params))["total"] < total:
        assert time.monotonic() < deadline, f"only {body['total']} of {total} leads listed"
        time.sleep(0.2)
    return body


def bounce_and_unsubscribe(
    nats_url: str,
    workspace_id: str,
    campaign_id: str,
    bounced: list[dict[str, Any]],
    gone: list[dict[str, Any]],
) -> None:
    """What the sender and the unsubscribe link would report, published to the stream."""
    ws, campaign = uuid.UUID(workspace_id), uuid.UUID(campaign_id)
    events: list[Event] = [
        EmailBounced(
            workspace_id=ws,
            campaign_id=campaign,
            lead_id=uuid.UUID(lead["id"]),
            email=lead["email"],
            source="dsn",
            kind="hard",
            smtp_code=550,
        )
        for lead in bounced
    ] + [
        LeadUnsubscribed(
            workspace_id=ws,
            campaign_id=campaign,
            lead_id=uuid.UUID(lead["id"]),
            email=lead["email"],
            source="link",
        )
        for lead in gone
    ]
    publish_events(nats_url, events)


def publish_events(nats_url: str, events: Sequence[Event]) -> None:
    """Events straight onto the stream, in order, as the services that own them would publish them."""

    async def publish() -> None:
        nc = await nats.connect(nats_url)
        try:
            for event in events:
                await nc.jetstream().publish(
                    event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
                )
        finally:
            await nc.close()

    # Playwright's sync API keeps an event loop running on this thread, so publish from another.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, publish()).result()
