"""The verification summary's counts, read from the trigger-kept `lead_counts`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.tables import lead_counts


async def validation_counts(session: AsyncSession, workspace_id: UUID, campaign_id: UUID) -> Any:
    """Every count in one statement over `lead_counts` (kept by triggers on lead_view): a few hundred rows
    whatever the campaign's size, where aggregating lead_view took ~300 ms at a million leads."""
    scope = and_(lead_counts.c.campaign_id == campaign_id, lead_counts.c.workspace_id == workspace_id)
    n = lead_counts.c.n
    pending = lead_counts.c.validation == "pending"
    by_reason = (
        select(lead_counts.c.validation_reason.label("reason"), func.sum(n).label("n"))
        .where(scope, ~pending, lead_counts.c.validation_reason.is_not(None))
        .group_by(lead_counts.c.validation_reason)
        .having(func.sum(n) != 0)
        .subquery("by_reason")
    )
    reasons = select(
        func.coalesce(
            func.jsonb_object_agg(by_reason.c.reason, by_reason.c.n, type_=JSONB),
            literal({}, JSONB),
        )
    ).scalar_subquery()

    def total(*where: ColumnElement[bool]) -> ColumnElement[Any]:
        summed = func.sum(n).filter(*where) if where else func.sum(n)
        return func.coalesce(summed, 0)

    statement = select(
        total().label("total"),
        total(~pending).label("validated"),
        total(pending).label("in_progress"),
        total(lead_counts.c.validation == "valid").label("valid"),
        total(lead_counts.c.validation == "invalid").label("invalid"),
        total(lead_counts.c.validation == "unknown").label("unknown"),
        reasons.label("reasons"),
    ).where(scope)
    return (await session.execute(statement)).one()
