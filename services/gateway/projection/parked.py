"""Events about leads this view has not listed yet: kept, and applied once the lead is listed.

Consumers of different subjects are not ordered, so an event about a lead (its verdict, an EmailSent, its
next step) may reach the projection before the LeadImported that lists it. Such an event used to fail its
batch and be redelivered with backoff until the lead was there, or dead-lettered once its deliveries ran
out; a few thousand of them (a lead list removed from the importer but not from the sequencer, a replayed
stream) kept the projection retrying for minutes, and every later event of every lead waited behind them.

Now the projection applies what it can and parks the rest here, each event narrowed to the one lead it
waits for, in the same transaction that records it as processed: nothing is lost and nothing waits. A pass
(`consumer.apply_parked`, which the gateway runs every second) applies the parked events of the leads
listed since, in the order they arrived, and drops those of leads removed from their campaign meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import structlog
from sqlalchemy import exists, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import AnyEvent, Event, LeadStatusChanged, parse_event
from contracts.events import LeadsScheduled
from services.gateway.tables import lead_events, lead_view, parked_events

log = structlog.get_logger(__name__)

# How many parked events one pass applies (one transaction).
PASS_LIMIT = 1_000


def narrowed(event: Event, lead_id: UUID) -> Event:
    """`event` as far as it concerns `lead_id` alone (a batch event keeps only that lead's part)."""
    match event:
        case LeadsScheduled():
            return event.model_copy(
                update={"leads": [lead for lead in event.leads if lead.lead_id == lead_id]}
            )
        case LeadStatusChanged():
            return event.model_copy(update={"lead_ids": [lead_id]})
        case _:
            return event


async def park(session: AsyncSession, workspace_id: UUID, waiting: Iterable[tuple[UUID, Event]]) -> None:
    """Keep each (lead, event) until the lead is listed; the same event for the same lead is kept once."""
    waiting = list(waiting)
    rows = [
        {
            "event_id": event.event_id,
            "lead_id": lead_id,
            "workspace_id": workspace_id,
            "event": narrowed(event, lead_id).model_dump_json(),
        }
        for lead_id, event in waiting
    ]
    if not rows:
        return
    await session.execute(
        insert(parked_events).values(rows).on_conflict_do_nothing(constraint="parked_events_event_lead")
    )
    log.info(
        "events parked until their leads are listed",
        events=len(rows),
        event_types=sorted({event.event_type for _, event in waiting}),
    )


# The parked events whose lead is listed now, oldest first; locked, so two gateways never apply one twice.
_TAKE_LISTED = text(
    f"""
    DELETE FROM {parked_events.fullname} AS p
    WHERE p.seq IN (
        SELECT w.seq FROM {parked_events.fullname} AS w
        JOIN {lead_view.fullname} AS v ON v.id = w.lead_id AND v.workspace_id = w.workspace_id
        ORDER BY w.seq
        LIMIT :limit
        FOR UPDATE OF w SKIP LOCKED
    )
    RETURNING p.seq, p.event
    """
)

# The parked events of leads removed from their campaign (their timeline's tombstone): nothing to apply.
_DROP_REMOVED = text(
    f"""
    DELETE FROM {parked_events.fullname} AS p
    USING {lead_events.fullname} AS e
    WHERE e.lead_id = p.lead_id AND e.workspace_id = p.workspace_id AND e.event_type = 'leads_removed'
    """
)


async def take_listed(session: AsyncSession, limit: int = PASS_LIMIT) -> list[AnyEvent]:
    """Remove and return (in arrival order) the parked events whose leads are listed now; first drops
    those of removed leads. Nearly always nothing is parked: one look at the (empty) table then, so the
    joins with `lead_view` and the timeline, both as large as the workspace's leads, are not planned and run
    every second for nothing."""
    if not await session.scalar(select(exists().select_from(parked_events))):
        return []
    dropped = (await session.execute(_DROP_REMOVED)).rowcount  # type: ignore[attr-defined]
    if dropped:
        log.info("parked events of removed leads dropped", events=dropped)
    rows = sorted((await session.execute(_TAKE_LISTED, {"limit": limit})).all())
    return [parse_event(row.event) for row in rows]
