"""Wiring of the sequencer service. For now it owns campaign creation."""

from __future__ import annotations

from contracts import CampaignCreated, subjects
from contracts.commands import CampaignCreatedReply, CreateCampaign
from contracts.replies import Refusal
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.sequencer import handlers
from services.sequencer.tables import metadata


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
        return await handlers.create_campaign(service, cmd)

    return service
