"""Wiring of the sequencer service: campaigns, their settings, sequence and status; each lead's progress
through the steps (progress_handlers.py) and the emission of due steps (emission.py)."""

from __future__ import annotations

from typing import Any

from contracts import (
    CampaignCreated,
    CampaignUpdated,
    LeadCompleted,
    LeadsScheduled,
    SequenceStopped,
    StepDue,
    StepNotSendable,
)
from contracts.commands import (
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
from services.runtime.db import psycopg_conninfo
from services.runtime.leased_work import WorkLoop
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork
from services.sequencer import handlers
from services.sequencer.bounce_guard import BounceGuard
from services.sequencer.campaign_ends import CampaignEnds
from services.sequencer.emission import Emitter
from services.sequencer.progress_handlers import (
    AUTO_REPLY_EVENTS,
    DUE_CHANNEL,
    LEAD_EVENTS,
    RECLASSIFIED_EVENTS,
    SEND_EVENTS,
    STOP_EVENTS,
    ProgressHandlers,
)
from services.sequencer.tables import metadata

# The emission pass looks for due steps this often besides when woken (a step whose delay ran out wakes
# nobody).
EMISSION_EVERY_SECONDS = 2.0
# Whether campaigns have finished (or have new leads due after finishing) is looked at this often.
ENDS_EVERY_SECONDS = 2.0
# Passes at once: one renders while another's statements run (they skip each other's locked leads).
EMISSION_WORKERS = 2


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    service = Service(name="sequencer", metadata=metadata, settings=settings, for_docs=for_docs)
    service.emits(
        CampaignCreated,
        CampaignUpdated,
        StepDue,
        StepNotSendable,
        LeadsScheduled,
        LeadCompleted,
        SequenceStopped,
    )
    emitter = Emitter(service)
    emission = WorkLoop(
        emitter.run_once,
        name="sequencer emission",
        every=EMISSION_EVERY_SECONDS,
        workers=EMISSION_WORKERS,
        conninfo=None if for_docs else psycopg_conninfo(service.database_url),
        channels=() if for_docs else (DUE_CHANNEL,),
    )
    ends = WorkLoop(CampaignEnds(service).run_once, name="sequencer campaign ends", every=ENDS_EVERY_SECONDS)
    progress = ProgressHandlers(emission.wake)
    guard = BounceGuard()

    # Bounce protection records each send and judges each bounce first (bounce_guard.py says why first).
    async def on_send_event(uow: UnitOfWork, event: Any) -> None:
        await guard.on_send_event(uow, event)
        await progress.on_send_event(uow, event)

    async def on_stop_event(uow: UnitOfWork, event: Any) -> None:
        await guard.on_stop_event(uow, event)
        await progress.on_stop_event(uow, event)

    service.consume(LEAD_EVENTS, progress.on_lead_event, durable="sequencer-leads")
    service.consume(SEND_EVENTS, on_send_event, durable="sequencer-sends")
    service.consume(STOP_EVENTS, on_stop_event, durable="sequencer-stops")
    service.consume(AUTO_REPLY_EVENTS, progress.on_auto_reply, durable="sequencer-auto-replies")
    # A durable of its own: an existing durable keeps the filter it was created with.
    service.consume(RECLASSIFIED_EVENTS, progress.on_reclassified, durable="sequencer-reclassified")
    service.consume("mailbox_health_changed", progress.on_mailbox_health, durable="sequencer-mailboxes")

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

    @service.answers(
        "preview_sequence",
        "A campaign's steps (saved, or as being edited) rendered for one of its leads.",
    )
    async def preview_sequence(cmd: PreviewSequence) -> SequencePreview | Refusal:
        return await handlers.preview_sequence(service, cmd)

    async def start_loops() -> None:
        service.spawn(emission.run(), "sequencer-emission")
        service.spawn(ends.run(), "sequencer-campaign-ends")

    service.on_startup(start_loops)
    return service
