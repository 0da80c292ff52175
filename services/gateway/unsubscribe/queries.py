"""What the unsubscribe link reads and writes: the lead it names, and whether it was used already."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.tables import lead_view, link_unsubscribes, removed_lead_addresses


async def lead_of_token(session: AsyncSession, workspace_id: UUID, lead_id: UUID) -> Any:
    """The lead's campaign and address, listed or removed from its campaign since (None when the workspace
    never had such a lead)."""
    listed = select(lead_view.c.campaign_id, lead_view.c.email).where(
        lead_view.c.id == lead_id, lead_view.c.workspace_id == workspace_id
    )
    removed = select(removed_lead_addresses.c.campaign_id, removed_lead_addresses.c.email).where(
        removed_lead_addresses.c.lead_id == lead_id, removed_lead_addresses.c.workspace_id == workspace_id
    )
    return (await session.execute(listed.union_all(removed).limit(1))).first()


async def first_unsubscribe(session: AsyncSession, workspace_id: UUID, lead_id: UUID, event_id: UUID) -> bool:
    """Record that the lead used its link; False when it had already (its event was emitted then)."""
    inserted = await session.scalar(
        insert(link_unsubscribes)
        .values(lead_id=lead_id, workspace_id=workspace_id, event_id=event_id)
        .on_conflict_do_nothing(index_elements=[link_unsubscribes.c.lead_id])
        .returning(link_unsubscribes.c.lead_id)
    )
    return inserted is not None
