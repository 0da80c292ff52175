"""The sequencer's LeadsScheduled in lead_view, and a campaign's per-day counts (`campaign_days`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from uuid import UUID

from sqlalchemy import Uuid, any_, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import LeadsScheduled
from services.gateway.projection.parked import park
from services.gateway.projection.removals import removed_leads
from services.gateway.projection.sending import DAY_COUNTERS, DayCounter
from services.gateway.tables import campaign_days, lead_view

DayKey = tuple[UUID, UUID, date]  # campaign, workspace, UTC day

# A lead's next step is set unless a newer fact about it is known, or the step was sent already.
_SCHEDULE = text(
    f"""
    UPDATE {lead_view.fullname} AS v SET
        next_step = c.step, next_step_at = c.due_at, next_step_as_of = CAST(:at AS timestamptz)
    FROM unnest(CAST(:ids AS uuid[]), CAST(:steps AS integer[]), CAST(:due AS timestamptz[]))
        AS c(id, step, due_at)
    WHERE v.id = c.id AND v.workspace_id = :workspace_id AND v.campaign_id = :campaign_id
      AND (v.next_step_as_of IS NULL OR v.next_step_as_of <= CAST(:at AS timestamptz))
      AND c.step > v.step
    """
)


async def apply_schedule(session: AsyncSession, event: LeadsScheduled) -> None:
    """The batch's next steps on their leads. A lead removed from its campaign is skipped; for one not
    listed yet, its part of the event is parked until it is (as for lead events)."""
    leads = sorted(event.leads, key=lambda lead: lead.lead_id)  # one lock order for every replica
    ids = [lead.lead_id for lead in leads]
    listed = set(
        await session.scalars(
            select(lead_view.c.id).where(
                lead_view.c.id == any_(literal(ids, ARRAY(Uuid))),
                lead_view.c.workspace_id == event.workspace_id,
            )
        )
    )
    unlisted = set(ids) - listed
    if unlisted and (unknown := unlisted - await removed_leads(session, event.workspace_id, unlisted)):
        await park(session, event.workspace_id, [(lead_id, event) for lead_id in sorted(unknown)])
    await session.execute(
        _SCHEDULE,
        {
            "ids": ids,
            "steps": [lead.step for lead in leads],
            "due": [lead.due_at for lead in leads],
            "at": event.occurred_at,
            "workspace_id": event.workspace_id,
            "campaign_id": event.campaign_id,
        },
    )


async def add_day_counts(session: AsyncSession, counts: Iterable[tuple[DayKey, DayCounter]]) -> None:
    """Add one to each (campaign day, counter) given (as often as it is given)."""
    totals: dict[DayKey, Counter[DayCounter]] = {}
    for key, counter in counts:
        totals.setdefault(key, Counter())[counter] += 1
    if not totals:
        return
    rows = [
        {
            "campaign_id": campaign_id,
            "workspace_id": workspace_id,
            "day": day,
            **{counter: added[counter] for counter in DAY_COUNTERS},
        }
        for (campaign_id, workspace_id, day), added in sorted(totals.items(), key=lambda item: item[0])
    ]
    statement = insert(campaign_days).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[campaign_days.c.campaign_id, campaign_days.c.day],
            set_={
                counter: campaign_days.c[counter] + statement.excluded[counter] for counter in DAY_COUNTERS
            },
        )
    )
