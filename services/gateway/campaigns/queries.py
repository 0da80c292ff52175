"""The campaigns' SQL: one campaign of a workspace, the workspace's campaigns with their lead counts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import HTTPException, status
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.tables import campaigns, lead_counts, workspaces


async def campaign_or_404(session: AsyncSession, workspace_id: UUID, campaign_id: UUID) -> Any:
    row = (
        await session.execute(
            select(campaigns).where(campaigns.c.id == campaign_id, campaigns.c.workspace_id == workspace_id)
        )
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such campaign.")
    return row


async def workspace_row(session: AsyncSession, workspace_id: UUID) -> Any:
    return (await session.execute(select(workspaces).where(workspaces.c.id == workspace_id))).one()


async def campaigns_with_counts(session: AsyncSession, workspace_id: UUID) -> list[Any]:
    """The workspace's campaigns, newest first, each with its number of leads (`leads`)."""
    # From the trigger-kept count log, not count(*): a campaign of a million leads lists as fast as one of ten.
    counts = (
        select(lead_counts.c.campaign_id, cast(func.sum(lead_counts.c.n), BigInteger).label("n"))
        .where(lead_counts.c.workspace_id == workspace_id)
        .group_by(lead_counts.c.campaign_id)
        .subquery()
    )
    rows = await session.execute(
        select(campaigns, func.coalesce(counts.c.n, 0).label("leads"))
        .outerjoin(counts, counts.c.campaign_id == campaigns.c.id)
        .where(campaigns.c.workspace_id == workspace_id)
        .order_by(campaigns.c.created_at.desc())
    )
    return list(rows.all())
