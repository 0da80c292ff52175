"""Persistence of campaigns (schema `sequencer`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.campaign_settings import CampaignStatus, PauseReason
from contracts.schedule import Schedule
from services.sequencer.bounce_protection import BounceProtection
from services.sequencer.domain import Campaign, CampaignSettings
from services.sequencer.sequence import StepDraft
from services.sequencer.tables import campaigns


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CampaignRepository:
        return cls(session)

    async def get(
        self, campaign_id: UUID, *, for_update: bool = False, for_share: bool = False
    ) -> Campaign | None:
        """The campaign; `for_update` locks its row until the commit, so two changes of one campaign
        decide one after the other (neither is lost). `for_share` holds off such changes while leads
        progress by the campaign as it is (an activation then sees those leads, or they see it)."""
        query = select(campaigns).where(campaigns.c.id == campaign_id)
        if for_update or for_share:
            query = query.with_for_update(read=not for_update)
        row = (await self.session.execute(query)).first()
        return None if row is None else _campaign_of(row)

    async def active(self) -> list[Campaign]:
        """Every active campaign (the emission pass's candidates)."""
        return await self.with_status(CampaignStatus.ACTIVE)

    async def with_status(self, status: CampaignStatus) -> list[Campaign]:
        rows = await self.session.execute(
            select(campaigns).where(campaigns.c.status == status.value).order_by(campaigns.c.id)
        )
        return [_campaign_of(row) for row in rows]

    async def save(self, campaign: Campaign) -> None:
        """Write a stored campaign's status, settings and steps."""
        settings = campaign.settings
        await self.session.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign.id)
            .values(
                status=campaign.status.value,
                schedule=None if settings.schedule is None else settings.schedule.to_json(),
                mailbox_ids=list(settings.mailbox_ids),
                daily_limit=settings.daily_limit,
                stop_on_reply=settings.stop_on_reply,
                stop_on_company_reply=settings.stop_on_company_reply,
                wait_for_validation=settings.wait_for_validation,
                send_to_unknown=settings.send_to_unknown,
                bounce_protection=settings.bounce_protection.to_json(),
                steps=[
                    {"subject": s.subject, "body": s.body, "delay_minutes": s.delay_minutes}
                    for s in campaign.steps
                ],
                activated_at=campaign.activated_at,
                paused_reason=None if campaign.paused_reason is None else campaign.paused_reason.value,
                paused_detail=campaign.paused_detail,
                protected_since=campaign.protected_since,
            )
        )

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
        settings=CampaignSettings(
            schedule=None if row.schedule is None else Schedule.from_json(row.schedule),
            mailbox_ids=tuple(row.mailbox_ids),
            daily_limit=row.daily_limit,
            stop_on_reply=row.stop_on_reply,
            stop_on_company_reply=row.stop_on_company_reply,
            wait_for_validation=row.wait_for_validation,
            send_to_unknown=row.send_to_unknown,
            bounce_protection=BounceProtection.from_json(row.bounce_protection),
        ),
        steps=tuple(StepDraft(s["subject"], s["body"], s["delay_minutes"]) for s in row.steps),
        activated_at=row.activated_at,
        paused_reason=None if row.paused_reason is None else PauseReason(row.paused_reason),
        paused_detail=row.paused_detail,
        protected_since=row.protected_since,
    )
