"""Single-lead events folded into their lead's row with the status fold, one by one or a run at once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Uuid, any_, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import LeadEvent, LeadState, LeadStatus, LeadValidated, apply
from services.gateway.projection.campaign_days import DayKey, add_day_counts
from services.gateway.projection.campaign_stats import record_campaign_stats
from services.gateway.projection.notifications import lead_events_notifications, notify
from services.gateway.projection.parked import park
from services.gateway.projection.removals import removed_leads
from services.gateway.projection.sending import DayCounter, LeadSequence, day_counts, sequence_after, utc_day
from services.gateway.projection.timeline import timeline_details, timeline_source, write_timeline
from services.gateway.tables import lead_view
from services.runtime.bulk import copy_text


def _extra_columns(event: LeadEvent, before: LeadState) -> dict[str, Any]:
    """The columns besides the status that `event` sets on a lead whose state was `before`."""
    match event:
        case LeadValidated() if before.verdict_run is None or event.run >= before.verdict_run:
            # An older run's verdict, arriving late, is not what the lead's validation is now.
            return {"validation": event.verdict.value, "validation_reason": event.reason}
        case _:
            return {}


# The lead_view columns holding a lead's `LeadState` (the status fold's state), in its fields' order.
STATE_COLUMNS = (
    lead_view.c.status,
    lead_view.c.status_at,
    lead_view.c.manual_at,
    lead_view.c.manual_id,
    lead_view.c.base_status,
    lead_view.c.base_at,
    lead_view.c.verdict_run,
    lead_view.c.verdict_invalid_at,
)


# The lead_view columns holding a lead's `sending.LeadSequence`, in its fields' order.
SEQUENCE_COLUMNS = (
    lead_view.c.step,
    lead_view.c.total_steps,
    lead_view.c.next_step,
    lead_view.c.next_step_at,
    lead_view.c.next_step_as_of,
)


def _sequence_of(row: Any) -> LeadSequence:
    return LeadSequence(row.step, row.total_steps, row.next_step, row.next_step_at, row.next_step_as_of)


def _sequence_values(sequence: LeadSequence) -> dict[str, Any]:
    return {
        "step": sequence.step,
        "total_steps": sequence.total_steps,
        "next_step": sequence.next_step,
        "next_step_at": sequence.next_step_at,
        "next_step_as_of": sequence.as_of,
    }


def _counted(event: LeadEvent, before: LeadState, after: LeadState) -> list[tuple[DayKey, DayCounter]]:
    key = (event.campaign_id, event.workspace_id, utc_day(event.occurred_at))
    return [(key, counter) for counter in day_counts(event, before.status, after.status)]


def _state_of(row: Any) -> LeadState:
    return LeadState(
        status=LeadStatus(row.status),
        status_at=row.status_at,
        manual_at=row.manual_at,
        manual_id=row.manual_id,
        base_status=None if row.base_status is None else LeadStatus(row.base_status),
        base_at=row.base_at,
        verdict_run=row.verdict_run,
        verdict_invalid_at=row.verdict_invalid_at,
    )


def _state_values(state: LeadState) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "status_at": state.status_at,
        "manual_at": state.manual_at,
        "manual_id": state.manual_id,
        "base_status": None if state.base_status is None else state.base_status.value,
        "base_at": state.base_at,
        "verdict_run": state.verdict_run,
        "verdict_invalid_at": state.verdict_invalid_at,
    }


async def apply_to_lead(session: AsyncSession, event: LeadEvent) -> bool:
    """Fold `event` into the lead's row; False when the lead was removed from its campaign (nothing to do)
    or is not listed yet (the event is parked until it is)."""
    lead_id = event.lead_id
    row = (
        await session.execute(
            select(*STATE_COLUMNS, *SEQUENCE_COLUMNS)
            .where(lead_view.c.id == lead_id, lead_view.c.workspace_id == event.workspace_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        if not await removed_leads(session, event.workspace_id, [lead_id]):
            # A lead this view has not listed yet: applied once its LeadImported is (see `parked`).
            await park(session, event.workspace_id, [(lead_id, event)])
        return False
    before = _state_of(row)
    after = apply(before, event)
    await session.execute(
        update(lead_view)
        .where(lead_view.c.id == lead_id)
        .values(
            **_state_values(after),
            last_activity_at=func.greatest(lead_view.c.last_activity_at, event.occurred_at),
            **_extra_columns(event, before),
            **_sequence_values(sequence_after(_sequence_of(row), event)),
        )
    )
    await add_day_counts(session, _counted(event, before, after))
    await record_campaign_stats(session, [event])
    return True


_APPLY_LEAD_EVENTS = text(
    f"""
    UPDATE {lead_view.fullname} AS v SET
        status = c.status,
        status_at = c.status_at,
        manual_at = c.manual_at,
        manual_id = c.manual_id,
        base_status = c.base_status,
        base_at = c.base_at,
        verdict_run = c.verdict_run,
        verdict_invalid_at = c.verdict_invalid_at,
        last_activity_at = greatest(v.last_activity_at, c.last_activity_at),
        validation = coalesce(c.validation, v.validation),
        validation_reason = CASE WHEN c.validation IS NULL THEN v.validation_reason
                                 ELSE c.validation_reason END,
        step = c.step,
        total_steps = c.total_steps,
        next_step = c.next_step,
        next_step_at = c.next_step_at,
        next_step_as_of = c.next_step_as_of
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:status AS text[]), CAST(:status_at AS timestamptz[]),
        CAST(:manual_at AS timestamptz[]), CAST(:manual_id AS uuid[]), CAST(:base_status AS text[]),
        CAST(:base_at AS timestamptz[]), CAST(:verdict_run AS integer[]),
        CAST(:verdict_invalid_at AS timestamptz[]), CAST(:last_activity_at AS timestamptz[]),
        CAST(:validation AS text[]), CAST(:validation_reason AS text[]), CAST(:step AS integer[]),
        CAST(:total_steps AS integer[]), CAST(:next_step AS integer[]), CAST(:next_step_at AS timestamptz[]),
        CAST(:next_step_as_of AS timestamptz[])
    ) AS c(id, status, status_at, manual_at, manual_id, base_status, base_at, verdict_run, verdict_invalid_at,
           last_activity_at, validation, validation_reason, step, total_steps, next_step, next_step_at,
           next_step_as_of)
    WHERE v.id = c.id
    """
)


async def apply_lead_events(session: AsyncSession, events: Sequence[LeadEvent]) -> None:
    """`apply_to_lead` for many single-lead events at once, folded in order per lead (a lead may have
    several in the run), with the same outcome as applying them one by one. Each event is one timeline
    entry of its lead: a LeadsValidated's verdicts (one event id) are each their lead's `lead_validated`."""
    ids = list(dict.fromkeys(event.lead_id for event in events))
    rows = (
        await session.execute(
            select(lead_view.c.id, lead_view.c.workspace_id, *STATE_COLUMNS, *SEQUENCE_COLUMNS)
            .where(lead_view.c.id == any_(literal(ids, ARRAY(Uuid))))
            .order_by(lead_view.c.id)  # one lock order for every projection replica: no deadlocks
            .with_for_update()
        )
    ).all()
    states = {row.id: _state_of(row) for row in rows}
    sequences = {row.id: _sequence_of(row) for row in rows}
    workspace_of = {row.id: row.workspace_id for row in rows}
    absent = {e.lead_id for e in events if workspace_of.get(e.lead_id) != e.workspace_id}
    for workspace_id in {e.workspace_id for e in events if e.lead_id in absent}:
        asked = {e.lead_id for e in events if e.lead_id in absent and e.workspace_id == workspace_id}
        if unknown := asked.difference(await removed_leads(session, workspace_id, asked)):
            # As in `apply_to_lead`: applied once the lead's LeadImported is (see `parked`).
            waiting = [
                (e.lead_id, e) for e in events if e.lead_id in unknown and e.workspace_id == workspace_id
            ]
            await park(session, workspace_id, waiting)
    extras: dict[UUID, dict[str, Any]] = {}
    activity: dict[UUID, datetime] = {}
    timeline: list[tuple[Any, ...]] = []
    counted: list[tuple[DayKey, DayCounter]] = []
    for event in events:
        if event.lead_id in absent:  # removed from its campaign (nothing to do) or parked
            continue
        before = states[event.lead_id]
        states[event.lead_id] = apply(before, event)
        sequences[event.lead_id] = sequence_after(sequences[event.lead_id], event)
        counted.extend(_counted(event, before, states[event.lead_id]))
        extras.setdefault(event.lead_id, {}).update(_extra_columns(event, before))
        activity[event.lead_id] = max(activity.get(event.lead_id, event.occurred_at), event.occurred_at)
        timeline.append(
            (
                event.lead_id,
                event.workspace_id,
                event.event_id,
                event.event_type,
                timeline_source(event),
                event.occurred_at,
                json.dumps(timeline_details(event), ensure_ascii=False, separators=(",", ":")),
            )
        )
    changed = list(extras)
    if not changed:
        return
    new_states = [_state_values(states[i]) for i in changed]
    new_sequences = [_sequence_values(sequences[i]) for i in changed]
    await session.execute(
        _APPLY_LEAD_EVENTS,
        {
            "ids": changed,
            **{c.name: [values[c.name] for values in new_states] for c in STATE_COLUMNS},
            "last_activity_at": [activity[i] for i in changed],
            "validation": [extras[i].get("validation") for i in changed],
            "validation_reason": [extras[i].get("validation_reason") for i in changed],
            **{column.name: [values[column.name] for values in new_sequences] for column in SEQUENCE_COLUMNS},
        },
    )
    await add_day_counts(session, counted)
    await record_campaign_stats(session, [e for e in events if e.lead_id not in absent])
    await write_timeline(session, copy_text(timeline))
    await notify(session, lead_events_notifications([e for e in events if e.lead_id not in absent]))
