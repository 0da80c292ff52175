"""Live changes to a campaign's leads, over SSE, so an open table updates without reloading.

They come from PostgreSQL, not NATS: the projection NOTIFYs `gateway_lead_changes` in the transaction that
changes `lead_view`, and every gateway replica LISTENs on one dedicated connection and fans out to its own
SSE subscribers. So a table open on one replica hears a change projected by another, and never hears of a
change before the list would show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID

import structlog
from fastapi import Request

from services.gateway.deps import service_of
from services.gateway.projection.notifications import LEAD_CHANGES_CHANNEL
from services.gateway.sse_backlog import BACKLOG, Backlog
from services.runtime.db import psycopg_conninfo
from services.runtime.listen import Listener
from services.runtime.service import Service

log = structlog.get_logger(__name__)


SUBSCRIBER_BACKLOG = BACKLOG
# How long a stream waits for the listener before answering 503, and how often the listener checks its
# (otherwise silent) connection is alive.
LISTEN_READY_SECONDS = 10.0
LISTEN_CHECK_SECONDS = 30.0


class Subscriber(Backlog):
    """One open stream of a campaign's leads: a bounded backlog that never blocks the listener, whatever the
    client's speed."""

    def __init__(self, workspace_id: UUID, campaign_id: UUID, backlog: int = SUBSCRIBER_BACKLOG) -> None:
        super().__init__(backlog)
        self.workspace_id = workspace_id
        self.campaign_id = campaign_id


class LeadChangeHub:
    """This process's one LISTEN connection on `gateway_lead_changes`, and the streams it feeds."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._subscribers: defaultdict[UUID, set[Subscriber]] = defaultdict(set)
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, service: Service) -> None:
        """Started by the first subscriber, and cancelled with the service's other background tasks."""
        if self._task is None or self._task.done():
            self._task = service.spawn(self._run(), "gateway-lead-changes")

    @contextlib.contextmanager
    def subscribe(self, workspace_id: UUID, campaign_id: UUID) -> Iterator[Subscriber]:
        subscriber = Subscriber(workspace_id, campaign_id)
        self._subscribers[campaign_id].add(subscriber)
        try:
            yield subscriber
        finally:
            subscribers = self._subscribers.get(campaign_id)
            if subscribers is not None:
                subscribers.discard(subscriber)
                if not subscribers:
                    del self._subscribers[campaign_id]

    def dispatch(self, payload: str) -> None:
        try:
            change = json.loads(payload)
            campaign_id = UUID(change.pop("campaign_id"))
            workspace_id = UUID(change.pop("workspace_id"))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("unreadable lead change notification", payload=payload[:200])
            return
        for subscriber in self._subscribers.get(campaign_id, ()):
            if subscriber.workspace_id == workspace_id:
                subscriber.offer(change)

    def _everyone_lost_changes(self) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.lost_changes()

    def _connected(self, reconnected: bool) -> None:
        if reconnected:
            self._everyone_lost_changes()  # NOTIFYs sent while we were away are gone
        self.listening.set()

    async def _run(self) -> None:
        await Listener(
            self._conninfo,
            [LEAD_CHANGES_CHANNEL],
            every=LISTEN_CHECK_SECONDS,
            what="lead change listener",
            on_notify=lambda notify: self.dispatch(notify.payload),
            on_connect=self._connected,
            on_lost=self.listening.clear,
        ).run()


def lead_change_hub(request: Request) -> LeadChangeHub:
    """The app's hub, created and started with the first stream (no LISTEN connection until needed)."""
    service = service_of(request)
    hub: LeadChangeHub | None = getattr(request.app.state, "lead_change_hub", None)
    if hub is None:
        hub = LeadChangeHub(psycopg_conninfo(service.database_url))
        request.app.state.lead_change_hub = hub
    hub.start(service)
    return hub


async def change_stream(
    hub: LeadChangeHub, workspace_id: UUID, campaign_id: UUID, *, reconnected: bool
) -> AsyncIterator[dict[str, str]]:
    sequence = 0

    def sse(event: str, data: dict[str, Any]) -> dict[str, str]:
        # Ids only make the browser send Last-Event-ID on reconnect: NOTIFY has no history to replay.
        return {"event": event, "id": str(sequence), "data": json.dumps(data)}

    with hub.subscribe(workspace_id, campaign_id) as subscriber:
        await hub.listening.wait()  # subscribed and listening: nothing from here on is missed
        first = "resync" if reconnected else "ready"
        yield sse(first, {"type": first})
        while True:
            lost, changes = await subscriber.next_changes()
            if lost:
                sequence += 1
                yield sse("resync", {"type": "resync"})
            for change in changes:
                sequence += 1
                yield sse(change["type"], change)
