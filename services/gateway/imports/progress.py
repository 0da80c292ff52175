"""An import's live progress as server-sent events: the importer's progress events, and its record
whenever the events go quiet, until the import ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from uuid import UUID

from nats.aio.msg import Msg

from contracts import (
    IMPORT_END_STATES,
    AnyEvent,
    ImportCompleted,
    ImportProgress,
    ImportState,
    parse_event,
    subjects,
)
from contracts.commands import GetImport, ImportStatusReply
from services.gateway.deps import ask
from services.gateway.imports.schemas import import_out
from services.runtime.service import Service

RESYNC_SECONDS = 5.0


async def import_status(service: Service, workspace_id: UUID, import_id: UUID) -> ImportStatusReply:
    """The import's state; CommandRefused (a 404) for an unknown import or another workspace's."""
    return await ask(
        service,
        "get_import",
        "importer",
        GetImport(workspace_id=workspace_id, import_id=import_id),
        ImportStatusReply,
    )


async def progress_stream(
    service: Service, workspace_id: UUID, import_id: UUID, last_event_id: str | None
) -> AsyncIterator[dict[str, str]]:
    seen = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1
    inbox: asyncio.Queue[AnyEvent] = asyncio.Queue()

    async def collect(msg: Msg) -> None:
        event = parse_event(msg.data)
        if not isinstance(event, ImportCompleted) or event.import_id == import_id:
            inbox.put_nowait(event)

    nc = service.broker.connection
    # Subscribe before reading the state, so nothing that happens in between is missed.
    subscriptions = [
        await nc.subscribe(subjects.import_progress_subject(import_id), cb=collect),
        await nc.subscribe(subjects.event_subject(workspace_id, "import_completed"), cb=collect),
    ]
    # The importer's first progress brings the total, counted before any row is stored; an event that only
    # brings the total is sent too, so a client can say "of N" from the start. Nothing is sent for the
    # state before that (no rows, no total): the client knows the import is running.
    sent: tuple[int, int | None] = (seen, None)

    def news(rows_done: int, total_rows: int | None) -> bool:
        return (
            (rows_done, total_rows) != sent and rows_done >= sent[0] and (rows_done, total_rows) != (0, None)
        )

    try:
        while True:
            current = await import_status(service, workspace_id, import_id)
            if current.state in IMPORT_END_STATES:
                yield _final(current)
                return
            if news(current.rows_done, current.total_rows):
                sent = (current.rows_done, current.total_rows)
                yield _progress(current.percent, current.rows_done, current.total_rows, current.counts)
            while True:
                try:
                    event = await asyncio.wait_for(inbox.get(), RESYNC_SECONDS)
                except TimeoutError:
                    break  # quiet for a while: re-read the state (the importer may have restarted)
                if isinstance(event, ImportCompleted):
                    break  # the final state and breakdown come from the importer's record
                if isinstance(event, ImportProgress) and news(event.rows_done, event.total_rows):
                    total = event.total_rows if event.total_rows is not None else sent[1]
                    sent = (event.rows_done, total)
                    yield _progress(event.percent, event.rows_done, total, event.counts)
    finally:
        for subscription in subscriptions:
            await subscription.unsubscribe()


def _progress(
    percent: float, rows_done: int, total_rows: int | None, counts: dict[str, int]
) -> dict[str, str]:
    data = {
        "state": ImportState.RUNNING.value,
        "percent": percent,
        "rows_done": rows_done,
        "total_rows": total_rows,
        "counts": counts,
    }
    return {"event": "progress", "id": str(rows_done), "data": json.dumps(data)}


def _final(reply: ImportStatusReply) -> dict[str, str]:
    return {
        "event": reply.state.value,
        "id": "final",
        "data": import_out(reply).model_dump_json(),
    }
