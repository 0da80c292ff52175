"""The sequencer's command handlers: load, decide, store and emit in one unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import (
    CampaignAction,
    CampaignCreatedReply,
    CampaignStateReply,
    ChangeCampaignStatus,
    CreateCampaign,
    GetCampaign,
    PreviewSequence,
    ReplaceSequence,
    SequencePreview,
    UpdateCampaignSettings,
)
from contracts.replies import Refusal
from contracts.sending import ScheduledLead
from services.runtime.service import Service
from services.runtime.unit_of_work import UnitOfWork
from services.sequencer import lifecycle
from services.sequencer.domain import Campaign, CampaignIdTaken, Decision, decide
from services.sequencer.emission import lead_values
from services.sequencer.leads_repository import LeadRepository
from services.sequencer.lifecycle import Changed, Refused
from services.sequencer.preview import preview
from services.sequencer.progress import first_due
from services.sequencer.progress_handlers import leads_scheduled, plan_of
from services.sequencer.repository import CampaignRepository
from services.sequencer.sequence import StepDraft

NO_SUCH_CAMPAIGN = "No such campaign."
NO_SUCH_LEAD = "No such lead in this campaign."
# What a change does to the campaign's leads, in its unit of work: (uow, before, after, now).
AfterChange = Callable[[UnitOfWork, Campaign, Campaign, datetime], Awaitable[None]]


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
        return await state_reply(session, campaign)


async def preview_sequence(service: Service, command: PreviewSequence) -> SequencePreview | Refusal:
    """The campaign's saved steps (or the steps being edited) rendered for one of its leads."""
    async with service.sessions() as session:
        campaign = await CampaignRepository.from_session(session).get(command.campaign_id)
        if campaign is None or campaign.workspace_id != command.workspace_id:
            return Refusal.not_found(NO_SUCH_CAMPAIGN)
        lead = await LeadRepository.from_session(session).get(command.campaign_id, command.lead_id)
    if lead is None or lead.values is None:
        return Refusal.not_found(NO_SUCH_LEAD)
    drafts = (
        campaign.steps
        if command.steps is None
        else tuple(StepDraft(s.subject, s.body, s.delay_minutes) for s in command.steps)
    )
    return SequencePreview(
        campaign_id=campaign.id, lead_id=lead.lead_id, steps=preview(drafts, lead_values(lead.values))
    )


async def update_settings(service: Service, command: UpdateCampaignSettings) -> CampaignStateReply | Refusal:
    values = {name: getattr(command.change, name) for name in command.fields_set}
    if command.change.schedule is not None and "schedule" in values:
        values["schedule"] = command.change.schedule.model_dump(by_alias=True)
    if command.change.bounce_protection is not None and "bounce_protection" in values:
        values["bounce_protection"] = command.change.bounce_protection.model_dump(exclude_none=True)
    return await _change(
        service,
        command.workspace_id,
        command.campaign_id,
        lambda c, now: lifecycle.update_settings(c, values, now),
        after=_release_waiting,
    )


async def replace_sequence(service: Service, command: ReplaceSequence) -> CampaignStateReply | Refusal:
    drafts = [StepDraft(s.subject, s.body, s.delay_minutes) for s in command.steps]
    return await _change(
        service,
        command.workspace_id,
        command.campaign_id,
        lambda c, now: lifecycle.replace_sequence(c, drafts, now),
        after=_reconsider,
    )


async def change_status(service: Service, command: ChangeCampaignStatus) -> CampaignStateReply | Refusal:
    failures = tuple(command.mailbox_failures)
    action: Callable[[Campaign, datetime], Changed | Refused] = {
        CampaignAction.ACTIVATE: lambda c, now: lifecycle.activate(c, now, failures),
        CampaignAction.PAUSE: lifecycle.pause,
        CampaignAction.RESUME: lifecycle.resume,
    }[command.action]
    return await _change(service, command.workspace_id, command.campaign_id, action, after=_schedule_waiting)


async def _schedule_waiting(uow: UnitOfWork, before: Campaign, after: Campaign, now: datetime) -> None:
    """The first activation schedules step 1 of every lead already sendable."""
    if before.activated_at is not None or after.activated_at is None or not after.steps:
        return
    scheduled = await LeadRepository.from_session(uow.session).schedule_waiting(
        after.id, now, after.steps[0].delay_minutes
    )
    total = len(after.steps)
    uow.emit_all(
        leads_scheduled(
            after, [ScheduledLead(lead_id=i, step=1, total_steps=total, due_at=due) for i, due in scheduled]
        )
    )


async def _release_waiting(uow: UnitOfWork, before: Campaign, after: Campaign, now: datetime) -> None:
    """Settings that make more leads sendable (no longer waiting for validation, or sending to unknown
    addresses) release the waiting leads they now allow, from now on."""
    pending = before.settings.wait_for_validation and not after.settings.wait_for_validation
    unknown = not before.settings.send_to_unknown and after.settings.send_to_unknown
    if not (pending or unknown):
        return
    plan = plan_of(after)
    released = await LeadRepository.from_session(uow.session).release_waiting(
        after.id, now, pending=pending, unknown=unknown, first_due=first_due(now, plan)
    )
    total = len(after.steps)
    if total:
        uow.emit_all(
            leads_scheduled(
                after,
                [ScheduledLead(lead_id=i, step=1, total_steps=total, due_at=due) for i, due in released],
            )
        )


async def _reconsider(uow: UnitOfWork, _: Campaign, after: Campaign, now: datetime) -> None:
    """A new sequence may no longer need what a not-sendable lead lacks: its step is tried again."""
    again = await LeadRepository.from_session(uow.session).reconsider(after.id, now)
    total = len(after.steps)
    uow.emit_all(
        leads_scheduled(
            after,
            [
                ScheduledLead(lead_id=i, step=step, total_steps=total, due_at=due)
                for i, step, due in again
                if step <= total
            ],
        )
    )


async def _change(
    service: Service,
    workspace_id: UUID,
    campaign_id: UUID,
    decision: Callable[[Campaign, datetime], Changed | Refused],
    *,
    after: AfterChange | None = None,
) -> CampaignStateReply | Refusal:
    """Load the campaign locked, decide, store it and emit its CampaignUpdated in one unit of work."""
    async with service.unit_of_work() as uow:
        campaigns = CampaignRepository.from_session(uow.session)
        campaign = await campaigns.get(campaign_id, for_update=True)
        if campaign is None or campaign.workspace_id != workspace_id:
            return Refusal.not_found(NO_SUCH_CAMPAIGN)
        now = datetime.now(UTC)
        outcome = decision(campaign, now)
        if isinstance(outcome, Refused):
            message = "; ".join(outcome.reasons)
            return Refusal.invalid(message) if outcome.invalid else Refusal.conflict(message)
        await campaigns.save(outcome.campaign)
        uow.emit(*outcome.events)
        if after is not None:
            await after(uow, campaign, outcome.campaign, now)
    async with service.sessions() as session:
        return await state_reply(session, outcome.campaign)


async def state_reply(session: AsyncSession, campaign: Campaign) -> CampaignStateReply:
    """The campaign with its leads' counts per step and what keeps it from sending as set."""
    leads = LeadRepository.from_session(session)
    return CampaignStateReply(
        campaign_id=campaign.id,
        status=campaign.status,
        settings=lifecycle.settings_data(campaign.settings),
        steps=lifecycle.steps_data(campaign),
        step_counts=await leads.step_counts(campaign.id, len(campaign.steps)),
        warnings=await leads.warnings(campaign.settings.mailbox_ids),
        paused_reason=campaign.paused_reason,
        paused_detail=campaign.paused_detail,
    )
