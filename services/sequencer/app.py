"""Wiring of the sequencer service: campaigns, their settings, sequence and status."""

from __future__ import annotations

from contracts import CampaignCreated, CampaignUpdated
from contracts.commands import (
    CampaignCreatedReply,
    CampaignStateReply,
    ChangeCampaignStatus,
    CreateCampaign,
    GetCampaign,
    ReplaceSequence,
    UpdateCampaignSettings,
)
from contracts.replies import Refusal
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.sequencer import handlers
from services.sequencer.tables import metadata


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    service = Service(name="sequencer", metadata=metadata, settings=settings, for_docs=for_docs)
    service.emits(CampaignCreated, CampaignUpdated)

    @service.answers(
        "create_campaign",
        "Create a campaign (idempotent on campaign_id).",
    )
    async def create_campaign(cmd: CreateCampaign) -> CampaignCreatedReply | Refusal:
        return await handlers.create_campaign(service, cmd)

    @service.answers(
        "get_campaign",
        "A campaign's status, settings and steps.",
    )
    async def get_campaign(cmd: GetCampaign) -> CampaignStateReply | Refusal:
        return await handlers.get_campaign(service, cmd)

    @service.answers(
        "update_campaign_settings",
        "Change the named settings (422 with every error; emits CampaignUpdated).",
    )
    async def update_campaign_settings(cmd: UpdateCampaignSettings) -> CampaignStateReply | Refusal:
        return await handlers.update_settings(service, cmd)

    @service.answers(
        "replace_sequence",
        "Replace the steps (invalid with every step error; emits CampaignUpdated).",
    )
    async def replace_sequence(cmd: ReplaceSequence) -> CampaignStateReply | Refusal:
        return await handlers.replace_sequence(service, cmd)

    @service.answers(
        "change_campaign_status",
        "Activate, pause or resume (conflict with every reason; emits CampaignUpdated).",
    )
    async def change_campaign_status(cmd: ChangeCampaignStatus) -> CampaignStateReply | Refusal:
        return await handlers.change_status(service, cmd)

    return service
