"""Wiring of the sequencer service. For now it owns campaign creation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from contracts import CampaignCreated, subjects
from contracts.commands import CampaignCreatedReply, CreateCampaign
from contracts.replies import Refusal
from services.runtime.outbox import add_to_outbox
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.sequencer.tables import campaigns, metadata, outbox


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    service = Service(name="sequencer", metadata=metadata, settings=settings, for_docs=for_docs)
    service.emits(CampaignCreated)

    @service.broker.subscriber(
        subjects.command_subject("sequencer", "create_campaign"),
        queue="sequencer",
        title="sequencer.create_campaign",
        description="Create a campaign (idempotent on campaign_id).",
    )
    async def create_campaign(cmd: CreateCampaign) -> CampaignCreatedReply | Refusal:
        async with service.sessions() as session, session.begin():
            created = (
                await session.execute(
                    insert(campaigns)
                    .values(id=cmd.campaign_id, workspace_id=cmd.workspace_id, name=cmd.name)
                    .on_conflict_do_nothing(index_elements=["id"])
                    .returning(campaigns.c.created_at)
                )
            ).first()
            row = (await session.execute(select(campaigns).where(campaigns.c.id == cmd.campaign_id))).one()
            if row.workspace_id != cmd.workspace_id:
                return Refusal.conflict("That campaign id is taken.")
            if created is not None:
                await add_to_outbox(
                    session,
                    outbox,
                    [
                        CampaignCreated(
                            workspace_id=cmd.workspace_id, campaign_id=cmd.campaign_id, name=cmd.name
                        )
                    ],
                )
        return CampaignCreatedReply(campaign_id=row.id, name=row.name, created_at=row.created_at)

    return service
