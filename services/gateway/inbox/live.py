"""The Unibox's live list over SSE: one event per message the inbox stores in the workspace's mailboxes.

They come from the inbox's `InboxMessageStored`, published on core NATS (`leadflow-unibox.<workspace_id>`)
once the batch that stored them has committed, so a page that hears one can read the message. Each stream
subscribes to its own workspace's subject: what another workspace receives never reaches it. The events
are ephemeral (nothing replays them), so a client reloads its list on `ready` after a reconnect (`resync`)
and whenever this stream says some were dropped.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import nats.errors
import structlog
from nats.aio.msg import Msg
from pydantic import ValidationError

from contracts import InboxMessageStored, parse_event, unibox_stored_subject
from services.gateway.sse_backlog import BACKLOG, Backlog
from services.runtime.service import Service

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 2


class StoredMessages(Backlog):
    """What one stream has heard and not sent yet (`sse_backlog.Backlog`): its workspace's stored messages."""

    def __init__(self, workspace_id: UUID, backlog: int = BACKLOG) -> None:
        super().__init__(backlog)
        self.workspace_id = workspace_id

    async def hear(self, msg: Msg) -> None:
        try:
            event = parse_event(msg.data)
        except ValidationError:
            log.warning("unreadable inbox announcement", subject=msg.subject)
            return
        if isinstance(event, InboxMessageStored) and event.workspace_id == self.workspace_id:
            self.offer(stored_data(event))


def stored_data(event: InboxMessageStored) -> dict[str, Any]:
    """A `stored` event's data: enough to tell whether the list's filters take it, and which to read."""
    return {
        "id": str(event.inbox_message_id),
        "mailbox_id": str(event.mailbox_id),
        "kind": event.kind,
        "lead_id": None if event.lead_id is None else str(event.lead_id),
        "campaign_id": None if event.campaign_id is None else str(event.campaign_id),
        "received_at": event.received_at.isoformat(),
    }


async def stored_stream(
    service: Service, workspace_id: UUID, *, reconnected: bool
) -> AsyncIterator[dict[str, str]]:
    sequence = 0

    def sse(event: str, data: dict[str, Any]) -> dict[str, str]:
        # Ids only make the browser send Last-Event-ID on reconnect: nothing is replayed.
        return {"event": event, "id": str(sequence), "data": json.dumps(data)}

    heard = StoredMessages(workspace_id)
    nc = service.broker.connection
    subscription = await nc.subscribe(unibox_stored_subject(workspace_id), cb=heard.hear)
    try:
        # Once the server has the subscription, nothing stored is missed; a client reconnecting may have
        # missed some. A server that does not answer at once gets it as soon as it is back.
        with contextlib.suppress(nats.errors.Error):
            await nc.flush(timeout=FLUSH_SECONDS)
        first = "resync" if reconnected else "ready"
        yield sse(first, {"type": first})
        while True:
            lost, stored = await heard.next_changes()
            if lost:
                sequence += 1
                yield sse("resync", {"type": "resync"})
            for data in stored:
                sequence += 1
                yield sse("stored", data)
    finally:
        await subscription.unsubscribe()
