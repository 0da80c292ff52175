"""Leads removed from their campaign: deleted from the list, their timeline closed by a tombstone."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import LeadsRemoved
from services.gateway.projection.timeline import record_timeline
from services.gateway.tables import lead_events, lead_view


async def remove_leads(session: AsyncSession, event: LeadsRemoved) -> None:
    """Delete the leads from the list; their timeline stays, closed by a `leads_removed` entry.

    That entry is who removed them (an audit trail) and the tombstone that tells a late event about a removed
    lead (a validation finishing, a status change of a job still running) from one about a lead whose
    LeadImported has not arrived yet: the first is dropped, the second retried.
    """
    rows = await session.execute(
        lead_view.delete()
        .where(
            lead_view.c.id.in_(event.lead_ids),
            lead_view.c.workspace_id == event.workspace_id,
            lead_view.c.campaign_id == event.campaign_id,
        )
        .returning(lead_view.c.id)
    )
    details = removal_details(event.removed_by, event.job_id)
    await record_timeline(session, event, [(row.id, details) for row in rows])


def removal_details(removed_by: str, job_id: UUID | None) -> dict[str, Any]:
    """What a removal's timeline entry shows."""
    return {"removed_by": removed_by, "job_id": str(job_id) if job_id else None}


async def removed_leads(session: AsyncSession, workspace_id: UUID, lead_ids: Any) -> set[UUID]:
    """Which of these leads were removed from their campaign (they have a `leads_removed` timeline entry)."""
    rows = await session.execute(
        select(lead_events.c.lead_id).where(
            lead_events.c.lead_id.in_(list(lead_ids)),
            lead_events.c.workspace_id == workspace_id,
            lead_events.c.event_type == "leads_removed",
        )
    )
    return {row.lead_id for row in rows}
