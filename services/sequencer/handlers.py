"""The sequencer's command handlers: load, decide, store and emit in one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from contracts.commands import (
    CampaignAction,
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
from services.sequencer import lifecycle
from services.sequencer.domain import Campaign, CampaignIdTaken, Decision, decide
from services.sequencer.lifecycle import Changed, Refused
from services.sequencer.repository import CampaignRepository
from services.sequencer.sequence import StepDraft

NO_SUCH_CAMPAIGN = "No such campaign."


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


async def get_campaign(service: Service, command: GetCampaign) -> CampaignStateReply | Refusal:
    async with service.sessions() as session:
        campaign = await CampaignRepository.from_session(session).get(command.campaign_id)
    if campaign is None or campaign.workspace_id != command.workspace_id:
        return Refusal.not_found(NO_SUCH_CAMPAIGN)
    return state_reply(campaign)


async def update_settings(service: Service, command: UpdateCampaignSettings) -> CampaignStateReply | Refusal:
    values = {name: getattr(command.change, name) for name in command.fields_set}
    if command.change.schedule is not None and "schedule" in values:
        values["schedule"] = command.change.schedule.model_dump(by_alias=True)
    return await _change(
        service,
        command.workspace_id,
        command.campaign_id,
        lambda c, now: lifecycle.update_settings(c, values, now),
    )


async def replace_sequence(service: Service, command: ReplaceSequence) -> CampaignStateReply | Refusal:
    drafts = [StepDraft(s.subject, s.body, s.delay_minutes) for s in command.steps]
    return await _change(
        service,
        command.workspace_id,
        command.campaign_id,
        lambda c, now: lifecycle.replace_sequence(c, drafts, now),
    )


async def change_status(service: Service, command: ChangeCampaignStatus) -> CampaignStateReply | Refusal:
    action = {
        CampaignAction.ACTIVATE: lifecycle.activate,
        CampaignAction.PAUSE: lifecycle.pause,
        CampaignAction.RESUME: lifecycle.resume,
    }[command.action]
    return await _change(service, command.workspace_id, command.campaign_id, action)


async def _change(
    service: Service,
    workspace_id: UUID,
    campaign_id: UUID,
    decision: Callable[[Campaign, datetime], Changed | Refused],
) -> CampaignStateReply | Refusal:
    """Load the campaign locked, decide, store it and emit its CampaignUpdated in one unit of work."""
    async with service.unit_of_work() as uow:
        campaigns = CampaignRepository.from_session(uow.session)
        campaign = await campaigns.get(campaign_id, for_update=True)
        if campaign is None or campaign.workspace_id != workspace_id:
            return Refusal.not_found(NO_SUCH_CAMPAIGN)
        outcome = decision(campaign, datetime.now(UTC))
        if isinstance(outcome, Refused):
            message = "; ".join(outcome.reasons)
            return Refusal.invalid(message) if outcome.invalid else Refusal.conflict(message)
        await campaigns.save(outcome.campaign)
        uow.emit(*outcome.events)
    return state_reply(outcome.campaign)


def state_reply(campaign: Campaign) -> CampaignStateReply:
    return CampaignStateReply(
        campaign_id=campaign.id,
        status=campaign.status,
        settings=lifecycle.settings_data(campaign.settings),
        steps=lifecycle.steps_data(campaign),
    )
