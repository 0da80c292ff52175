"""Manual status changes: the status fold's last-writer-wins rule as one UPDATE over a batch of leads."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, DateTime, Uuid, any_, case, func, literal, null, or_, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import LeadStatus, LeadStatusChanged
from services.gateway.projection.parked import park
from services.gateway.projection.removals import removed_leads
from services.gateway.tables import lead_view

_NIL_UUID = UUID(int=0)


def manual_change_values(
    event_id: UUID | ColumnElement[UUID], occurred_at: datetime, status: LeadStatus
) -> dict[str, Any]:
    """The lead_view columns a manual status change sets, as SQL over the row's current values: the status
    fold of a manual change (last writer wins, by `(occurred_at, event_id)`). `event_id` is the event's
    id, or an SQL expression giving each row its event's id (several events in one statement).

    A manual change does not depend on the lead's current status (terminal or not), only on the previous
    manual change, so `contracts.lead_status._apply_manual` is exactly this CASE (it clears the other
    events' status and an invalid verdict, and keeps the latest validation run); `last_activity_at` moves
    forward either way, as it does for every event.
    """
    at = literal(occurred_at, DateTime(timezone=True))
    event = literal(event_id, Uuid) if isinstance(event_id, UUID) else event_id
    newer = or_(
        lead_view.c.manual_at.is_(None),
        tuple_(lead_view.c.manual_at, func.coalesce(lead_view.c.manual_id, literal(_NIL_UUID, Uuid)))
        < tuple_(at, event),
    )

    def if_newer(value: ColumnElement[Any], column: ColumnElement[Any]) -> ColumnElement[Any]:
        return case((newer, value), else_=column)

    return {
        "status": if_newer(literal(status.value), lead_view.c.status),
        "status_at": if_newer(at, lead_view.c.status_at),
        "manual_at": if_newer(at, lead_view.c.manual_at),
        "manual_id": if_newer(event, lead_view.c.manual_id),
        # Every status fact known so far is replaced, an invalid verdict too; the latest run stays known.
        "base_status": if_newer(null(), lead_view.c.base_status),
        "base_at": if_newer(null(), lead_view.c.base_at),
        "verdict_invalid_at": if_newer(null(), lead_view.c.verdict_invalid_at),
        "last_activity_at": func.greatest(lead_view.c.last_activity_at, at),
    }


def status_change_details(
    status: LeadStatus, changed_by: str, reason: str | None, job_id: UUID | None
) -> dict[str, Any]:
    """What a manual status change's timeline entry shows."""
    details: dict[str, Any] = {"status": status.value, "changed_by": changed_by, "reason": reason}
    if job_id is not None:
        details["job_id"] = str(job_id)
    return details


async def apply_manual_batch(session: AsyncSession, event: LeadStatusChanged) -> list[UUID]:
    """A manual status change applied to the whole batch in ONE statement; returns the leads it touched.

    A bulk job sends a thousand leads per event: one SELECT FOR UPDATE + UPDATE per lead made a 100k-lead
    change take ~100k round trips. (A bulk job of this gateway applies its batches itself, in
    the bulk job runner; this path is for a LeadStatusChanged that reaches the projection unapplied.)
    """
    rows = await session.execute(
        update(lead_view)
        .where(
            # One array parameter: an IN list of a thousand binds costs more to render than to run.
            lead_view.c.id == any_(literal(event.lead_ids, ARRAY(Uuid))),
            lead_view.c.workspace_id == event.workspace_id,
        )
        .values(manual_change_values(event.event_id, event.occurred_at, event.status))
        .returning(lead_view.c.id)
    )
    changed = [row.id for row in rows]
    missing = set(event.lead_ids).difference(changed)
    if missing and (unknown := missing.difference(await removed_leads(session, event.workspace_id, missing))):
        # As in `apply_to_lead`: a lead not listed yet; its part is applied once it is (see `parked`).
        await park(session, event.workspace_id, [(lead_id, event) for lead_id in sorted(unknown)])
    return changed
