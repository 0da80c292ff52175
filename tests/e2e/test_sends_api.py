"""A campaign's sends through the gateway and the mailer: a step due is sent and listed with its mailbox and
Message-ID, filtered by state and paged; bounds refused with 422, another workspace's campaign is 404."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from nats.aio.client import Client

from contracts import CampaignUpdated
from contracts.campaign_settings import CampaignSettingsData, CampaignStatus, StepData
from contracts.events import StepDue
from tests.e2e.api import create_campaign, workspace_id_of
from tests.peers.submission import SubmissionServer


async def sends(client: httpx.AsyncClient, campaign_id: str, **params: Any) -> httpx.Response:
    return await client.get(f"/api/v1/campaigns/{campaign_id}/sends", params=params)


async def test_the_sends_of_a_campaign(
    client: httpx.AsyncClient, nc: Client, smtp_server: SubmissionServer
) -> None:
    campaign_id = await create_campaign(client, "Sends")
    smtp = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "username": smtp_server.username,
        "password": smtp_server.password,
        "security": "none",
    }
    created = await client.post(
        "/api/v1/mailboxes",
        json={"email": "ana@firma.cz", "name": "Ana", "smtp": smtp, "min_gap_seconds": 0},
    )
    assert created.status_code == 201, created.text
    mailbox_id = uuid.UUID(created.json()["id"])
    workspace_id = await workspace_id_of(client)
    js = nc.jetstream()
    updated = CampaignUpdated(
        workspace_id=workspace_id,
        campaign_id=uuid.UUID(campaign_id),
        status=CampaignStatus.ACTIVE,
        settings=CampaignSettingsData(mailbox_ids=[mailbox_id]),
        steps=[StepData(subject="Hi", body="Hello", delay_minutes=0)],
    )
    await js.publish(updated.subject, updated.to_bytes(), headers={"Nats-Msg-Id": str(updated.event_id)})
    leads = [uuid.uuid4() for _ in range(3)]
    for n, lead in enumerate(leads):
        due = StepDue(
            workspace_id=workspace_id,
            campaign_id=uuid.UUID(campaign_id),
            lead_id=lead,
            step=1,
            total_steps=1,
            due_at=datetime.now(UTC),
            email=f"lead{n}@example.com",
            subject="Hi",
            body="Hello",
        )
        await js.publish(due.subject, due.to_bytes(), headers={"Nats-Msg-Id": str(due.event_id)})

    deadline = time.monotonic() + 30
    while True:
        listed = await sends(client, campaign_id, state="sent")
        assert listed.status_code == 200, listed.text
        if len(listed.json()["items"]) == 3:
            break
        assert time.monotonic() < deadline, listed.json()
        await asyncio.sleep(0.2)
    items = listed.json()["items"]
    assert {i["lead_id"] for i in items} == {str(lead) for lead in leads}
    assert all(i["mailbox"] == "ana@firma.cz" and i["mailbox_id"] == str(mailbox_id) for i in items)
    assert all(i["message_id"] == f"<{i['id']}@firma.cz>" and i["sent_at"] for i in items)
    assert (await sends(client, campaign_id, state="queued")).json()["items"] == []

    first = (await sends(client, campaign_id, limit=2)).json()
    assert len(first["items"]) == 2 and first["next_after"] == first["items"][-1]["id"]
    rest = (await sends(client, campaign_id, limit=2, after=first["next_after"])).json()
    assert len(rest["items"]) == 1 and rest["next_after"] is None

    for bad in ({"limit": 0}, {"limit": 10**12}, {"state": "lost"}, {"after": "x"}):
        assert (await sends(client, campaign_id, **bad)).status_code == 422, bad
    assert (await sends(client, str(uuid.uuid4()))).status_code == 404

    # Only an uncertain send is resolved by hand: a sent one is refused with its state, an unknown one is
    # not found, and an outcome other than sent / resend is not valid.
    sent_id = items[0]["id"]
    refused = await client.post(f"/api/v1/sends/{sent_id}/resolve", json={"outcome": "sent"})
    assert refused.status_code == 409 and "is sent, not uncertain" in refused.json()["detail"], refused.text
    unknown = await client.post(f"/api/v1/sends/{uuid.uuid4()}/resolve", json={"outcome": "resend"})
    assert unknown.status_code == 404, unknown.text
    for body in ({"outcome": "lost"}, {}, {"outcome": None}):
        assert (await client.post(f"/api/v1/sends/{sent_id}/resolve", json=body)).status_code == 422, body
    assert (await sends(client, campaign_id, state="sent")).json()["items"] == items  # nothing changed
