"""A lead's timeline (`lead_events`): one entry per event that touched it, written by COPY."""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import EmailBounced, Event
from contracts.events import EVENT_SOURCES
from services.gateway.tables import lead_events
from services.runtime.bulk import copy_insert, copy_text

TIMELINE_COLUMNS = ("lead_id", "workspace_id", "event_id", "event_type", "source", "occurred_at", "data")
# Envelope fields every event has: the rest of an event is what its timeline entry shows.
_ENVELOPE = {
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "workspace_id",
    "campaign_id",
    "lead_id",
}


def timeline_source(event: Event) -> str:
    """The service an entry is shown as coming from: the emitter of its event type, but the mailer for a
    bounce it saw at RCPT (EmailBounced's `source="smtp"`; the inbox reports DSN bounces)."""
    if isinstance(event, EmailBounced) and event.source == "smtp":
        return "mailer"
    return EVENT_SOURCES.get(event.event_type, "unknown")


def timeline_details(event: Event) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude=_ENVELOPE)


async def record_timeline(
    session: AsyncSession, event: Event, entries: list[tuple[Any, dict[str, Any]]]
) -> None:
    """One timeline row per lead the event touched (a redelivered event adds none).

    Sent as COPY text built here: a bulk status change shares one `data` dict across its thousand leads,
    so it is serialised once, not once per row."""
    source = timeline_source(event)
    serialised: dict[int, str] = {}

    def as_json(data: dict[str, Any]) -> str:
        known = serialised.get(id(data))
        if known is None:
            known = serialised[id(data)] = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return known

    envelope = (str(event.workspace_id), str(event.event_id), event.event_type, source, event.occurred_at)
    await write_timeline(session, copy_text((lead_id, *envelope, as_json(data)) for lead_id, data in entries))


async def write_timeline(session: AsyncSession, rows: bytes) -> None:
    """Timeline rows (`TIMELINE_COLUMNS`, as COPY text); an entry already there is left alone."""
    await copy_insert(
        session,
        lead_events,
        TIMELINE_COLUMNS,
        rows,
        conflict_target=sql.SQL("ON CONSTRAINT lead_events_lead_time_event"),
    )
