"""The Unibox's live stream (`GET /api/v1/inbox/stream`) on the whole stack: each `InboxMessageStored` of the
caller's workspace, as the inbox announces it on core NATS after storing a message, becomes one `stored`
event; another workspace's never does. The announcements are published here as the inbox would (storing a
message for real is tests/integration/test_inbox_store.py's business)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from nats.aio.client import Client

from contracts import InboxMessageStored
from tests.e2e.api import workspace_id_of

READ_SECONDS = 15.0


async def next_event(lines: AsyncIterator[str]) -> tuple[str, dict[str, Any]]:
    """The stream's next event (name and data), past `: ping` comments."""
    name, data = "message", ""
    async for line in lines:
        if line.startswith("event:"):
            name = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data += line.partition(":")[2].strip()
        elif line == "" and data:
            return name, json.loads(data)
    raise AssertionError("the stream ended")


def announcement(workspace_id: uuid.UUID, **fields: Any) -> InboxMessageStored:
    values: dict[str, Any] = {
        "workspace_id": workspace_id,
        "inbox_message_id": uuid.uuid4(),
        "mailbox_id": uuid.uuid4(),
        "kind": "reply",
        "lead_id": uuid.uuid4(),
        "campaign_id": uuid.uuid4(),
        "received_at": datetime.now(UTC),
    }
    return InboxMessageStored(**(values | fields))


async def test_the_stream_sends_each_message_stored_in_the_workspace_and_no_other(
    client: httpx.AsyncClient, nc: Client
) -> None:
    workspace_id = await workspace_id_of(client)
    ours = announcement(workspace_id, kind="hard_bounce", lead_id=None, campaign_id=None)
    others = announcement(uuid.uuid4())
    async with client.stream("GET", "/api/v1/inbox/stream") as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        assert await asyncio.wait_for(next_event(lines), READ_SECONDS) == ("ready", {"type": "ready"})
        await nc.publish(others.subject, others.to_bytes())
        # Another workspace's announcement on this workspace's subject is not sent either.
        await nc.publish(ours.subject, others.to_bytes())
        await nc.publish(ours.subject, ours.to_bytes())
        await nc.flush()
        name, data = await asyncio.wait_for(next_event(lines), READ_SECONDS)
    assert name == "stored"
    assert data == {
        "id": str(ours.inbox_message_id),
        "mailbox_id": str(ours.mailbox_id),
        "kind": "hard_bounce",
        "lead_id": None,
        "campaign_id": None,
        "received_at": ours.received_at.isoformat(),
    }


async def test_a_reconnecting_client_is_told_to_read_its_list_again(client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/api/v1/inbox/stream", headers={"Last-Event-ID": "4"}) as response:
        assert response.status_code == 200
        event = await asyncio.wait_for(next_event(response.aiter_lines()), READ_SECONDS)
    assert event == ("resync", {"type": "resync"})


async def test_the_stream_needs_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/inbox/stream", headers={"Authorization": ""})
    assert response.status_code == 401, response.text
