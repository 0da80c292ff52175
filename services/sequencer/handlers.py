"""The sequencer's command handlers: load, decide, store and emit in one unit of work."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.commands import CampaignCreatedReply, CreateCampaign
from contracts.replies import Refusal
from services.runtime.service import Service
from services.sequencer.domain import CampaignIdTaken, Decision, decide
from services.sequencer.repository import CampaignRepository


async def create_campaign(service: Service, command: CreateCampaign) -> CampaignCreatedReply | Refusal:
    async with service.unit_of_work() as uow:
        campaigns = CampaignRepository.from_session(uow.session)
        now = datetime.now(UTC)
        outcome = decide(await campaigns.get(command.campaign_id), command, now)
        if isinstance(outcome, Decision) and outcome.to_store and not await campaigns.add(outcome.to_store):
            # A concurrent create of the same id committed first: this command is a repeat of it (or refused).
            outcome = decide(await campaigns.get(command.campaign_id), command, now)
        if isinstance(outcome, CampaignIdTaken):
            return Refusal.conflict(outcome.message)
        uow.emit(*outcome.events)
    campaign = outcome.campaign
    return CampaignCreatedReply(campaign_id=campaign.id, name=campaign.name, created_at=campaign.created_at)
