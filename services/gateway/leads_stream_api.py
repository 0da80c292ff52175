"""A campaign's leads out of the table: a CSV export of the list's filter, and live changes over SSE.

The export streams from a server-side cursor, so a 100k-lead campaign never sits in memory. Live changes
come from PostgreSQL, not NATS: the projection NOTIFYs `gateway_lead_changes` in the transaction that
changes `lead_view`, and every gateway replica LISTENs on one dedicated connection and fans out to its own
SSE subscribers. So a table open on one replica hears a change projected by another, and never hears of a
change before the list would show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import re
import unicodedata
from collections import defaultdict, deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

import psycopg
import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy import and_, func, select
from sqlalchemy.exc import SQLAlchemyError
from sse_starlette import EventSourceResponse

from contracts.text import Text
from services.gateway.campaigns_api import campaign_or_404
from services.gateway.deps import Session, Workspace, service_of
from services.gateway.errors import API_RESPONSES, NO_SUCH_CAMPAIGN, problem
from services.gateway.leads_query import LeadFilter, lead_conditions, lead_filter_params
from services.gateway.projection.notifications import LEAD_CHANGES_CHANNEL
from services.gateway.tables import lead_view
from services.runtime.db import psycopg_conninfo
from services.runtime.listen import Listener
from services.runtime.service import Service
from services.runtime.spreadsheet import spreadsheet_safe

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)


EXPORT_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "company_name",
    "phone",
    "website",
    "city",
    "industry",
    "status",
    "step",
    "total_steps",
    "validation",
    "validation_reason",
    "last_activity_at",
    "created_at",
)
# Rows fetched per round trip of the server-side cursor, and written per chunk of the response.
EXPORT_BATCH = 1000


def _cell(value: Any) -> str:
    """A value as a spreadsheet will see it: text that starts like a formula is quoted (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return spreadsheet_safe(str(value))


def custom_headers(keys: Sequence[str]) -> list[str]:
    """One column per custom key, named after it; a key that repeats a standard column gets `custom.`."""
    return [f"custom.{key}" if key in EXPORT_COLUMNS else key for key in keys]


def _filename(campaign_name: str) -> str:
    """`attachment` with an ASCII name every client accepts, and the real name for those that read it."""
    ascii_name = unicodedata.normalize("NFKD", campaign_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").lower() or "campaign"
    return (
        f"attachment; filename=\"leads-{slug}.csv\"; filename*=UTF-8''{quote(f'leads-{campaign_name}.csv')}"
    )


class ExportAborted(Exception):
    """The export failed after its first bytes were sent: the response ends without its last chunk, so
    the client sees a broken download, never a shorter file that looks complete."""


async def _export_rows(
    service: Service, workspace_id: UUID, campaign_id: UUID, lead_filter: LeadFilter
) -> AsyncGenerator[bytes, None]:
    """The CSV in chunks of EXPORT_BATCH rows. The first chunk (BOM, header and the first batch) comes
    only once both queries have run, so the route can still answer an error status if they fail."""
    conditions = and_(*lead_conditions(workspace_id, campaign_id, lead_filter))
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel reads UTF-8 (accents) only with a BOM
    async with service.sessions() as session:
        # One snapshot for both passes, so the header names every custom key of the rows that follow.
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        key = func.jsonb_object_keys(lead_view.c.custom)
        keys = sorted((await session.scalars(select(key).where(conditions).distinct())).all())
        writer = csv.writer(buffer)
        writer.writerow([_cell(header) for header in (*EXPORT_COLUMNS, *custom_headers(keys))])
        columns = [lead_view.c[name] for name in EXPORT_COLUMNS]
        result = await session.stream(
            select(*columns, lead_view.c.custom)
            .where(conditions)
            .order_by(lead_view.c.seq)
            .execution_options(yield_per=EXPORT_BATCH)
        )
        async for rows in result.partitions():
            for row in rows:
                custom = row.custom or {}
                writer.writerow(
                    [*map(_cell, row[: len(EXPORT_COLUMNS)]), *(_cell(custom.get(k)) for k in keys)]
                )
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()
        await session.rollback()  # read only: nothing to keep


async def _first_then_rest(
    first: bytes, rest: AsyncGenerator[bytes, None], campaign_id: UUID
) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    except (SQLAlchemyError, psycopg.Error) as exc:
        log.warning("lead export failed mid-way", campaign_id=str(campaign_id), error=type(exc).__name__)
        raise ExportAborted(f"the export of campaign {campaign_id} failed mid-way") from None
    finally:
        await rest.aclose()  # its session, also when the client goes away


@router.get(
    "/campaigns/{campaign_id}/leads/export.csv",
    tags=["leads"],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "Every lead matching the filter"},
        **NO_SUCH_CAMPAIGN,
        503: problem("The leads could not be read (the database failed or went away); retry shortly."),
    },
)
async def export_leads(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    filter_: Annotated[LeadFilter, Depends(lead_filter_params)],
) -> StreamingResponse:
    """Every lead of the campaign that the list would show with the same `status`, `validation`, `q` and
    `import_id`, as a UTF-8 CSV (with BOM, for Excel) in list order.

    Columns: the lead's fields, status, step, validation and times, then one column per custom key found
    among the exported leads (sorted; named after the key, `custom.<key>` if it repeats a standard column).
    Cells a spreadsheet would read as a formula (starting with = + - @ tab or CR) are prefixed with `'`.

    The status is only sent once the export's queries have run, so a failure there is a 503. One later
    (the database going away mid-download) breaks the download off without its end: a client sees an
    error, never a short file that looks complete.
    """
    campaign = await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()  # the export reads on its own connection, for as long as the download takes
    rows = _export_rows(service_of(request), workspace_id, campaign_id, filter_)
    try:
        first = await anext(rows)
    except (SQLAlchemyError, psycopg.Error) as exc:
        await rows.aclose()
        log.warning("lead export failed", campaign_id=str(campaign_id), error=type(exc).__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The leads could not be read; try the export again shortly."
        ) from None
    return StreamingResponse(
        _first_then_rest(first, rows, campaign_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _filename(campaign.name)},
    )


# Changes a subscriber may have waiting; beyond that the oldest are dropped and it is told to `resync`.
SUBSCRIBER_BACKLOG = 256
# How long a stream waits for the listener before answering 503, and how often the listener checks its
# (otherwise silent) connection is alive.
LISTEN_READY_SECONDS = 10.0
LISTEN_CHECK_SECONDS = 30.0
# A client that takes no data for this long is disconnected (it reconnects and resyncs).
SEND_TIMEOUT_SECONDS = 30.0


class Subscriber:
    """One open stream: a bounded backlog that never blocks the listener, whatever the client's speed."""

    def __init__(self, workspace_id: UUID, campaign_id: UUID, backlog: int = SUBSCRIBER_BACKLOG) -> None:
        self.workspace_id = workspace_id
        self.campaign_id = campaign_id
        self._pending: deque[dict[str, Any]] = deque(maxlen=backlog)
        self._lost = False
        self._wake = asyncio.Event()

    def offer(self, change: dict[str, Any]) -> None:
        if len(self._pending) == self._pending.maxlen:
            self._lost = True  # the deque drops the oldest change as this one goes in
        self._pending.append(change)
        self._wake.set()

    def lost_changes(self) -> None:
        """Changes may have gone unheard (the listener reconnected): the client must reload."""
        self._lost = True
        self._pending.clear()
        self._wake.set()

    async def next_changes(self) -> tuple[bool, list[dict[str, Any]]]:
        """Waits for changes; returns whether some were lost (send `resync` first) and those waiting."""
        await self._wake.wait()
        self._wake.clear()
        lost, self._lost = self._lost, False
        changes = list(self._pending)
        self._pending.clear()
        return lost, changes


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


@router.get(
    "/campaigns/{campaign_id}/leads/events",
    tags=["leads"],
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
        **NO_SUCH_CAMPAIGN,
        503: problem("Live updates are unavailable right now; retry."),
    },
)
async def lead_events_stream(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    last_event_id: Annotated[Text | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Live changes to the campaign's leads, so an open table updates without reloading.

    The first event is `ready` (or `resync` when reconnecting with `Last-Event-ID`): from then on every
    change is sent, so load (or reload) the table on it. Then `leads_added` (an import batch landed:
    `count` and `import_id`), `import_finished` (an import completed: `count` leads imported, `import_id`;
    those not listed yet are the list's `arriving`) and `lead_changed` (`lead_ids` whose row changed), each
    with data
    `{"type", "lead_ids", "count", "event_type", "at"}`. `resync` means changes were dropped (a slow
    client, or the server's listener reconnected): reload the table. A `: ping` comment comes every 15 s.
    """
    await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()  # a stream can stay open for hours: it must not hold a pooled connection
    hub = lead_change_hub(request)
    try:
        await asyncio.wait_for(hub.listening.wait(), LISTEN_READY_SECONDS)
    except TimeoutError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "Live updates are unavailable right now; try again shortly."
        ) from exc
    return EventSourceResponse(
        _change_stream(hub, workspace_id, campaign_id, reconnected=last_event_id is not None),
        ping=15,
        send_timeout=SEND_TIMEOUT_SECONDS,
    )


async def _change_stream(
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
