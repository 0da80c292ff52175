"""Persistence of campaigns (schema `sequencer`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sequencer.domain import Campaign, CampaignStatus
from services.sequencer.tables import campaigns


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CampaignRepository:
        return cls(session)

    async def get(self, campaign_id: UUID) -> Campaign | None:
        row = (await self.session.execute(select(campaigns).where(campaigns.c.id == campaign_id))).first()
        return None if row is None else _campaign_of(row)

    async def add(self, campaign: Campaign) -> bool:
        """Store a new campaign; False if its id was stored meanwhile (a concurrent create of the same id,
        whose commit this waited for): nothing is written then."""
        inserted = await self.session.execute(
            insert(campaigns)
            .values(
                id=campaign.id,
                workspace_id=campaign.workspace_id,
                name=campaign.name,
                status=campaign.status.value,
                created_at=campaign.created_at,
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(campaigns.c.id)
        )
        return inserted.first() is not None


def _campaign_of(row: Any) -> Campaign:
    return Campaign(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        status=CampaignStatus(row.status),
        created_at=row.created_at,
    )
