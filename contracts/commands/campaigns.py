"""Commands to the sequencer about campaigns."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.campaign_settings import (
    MAX_CAMPAIGN_DAILY_LIMIT,
    MAX_MAILBOXES,
    BounceProtectionChange,
    CampaignSettingsData,
    CampaignStatus,
    PauseReason,
    ScheduleData,
    SequenceSteps,
    StepData,
)
from contracts.commands.base import Command
from contracts.replies import Reply
from contracts.text import Text


class CreateCampaign(Command):
    campaign_id: UUID
    name: Text = Field(min_length=1, max_length=200)


class CampaignCreatedReply(Reply):
    campaign_id: UUID
    name: str
    created_at: datetime


class SettingsChange(BaseModel):
    """The settings a PATCH names; a field left out (unset) keeps its value, `null` clears a nullable one."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schedule: ScheduleData | None = None
    mailbox_ids: list[UUID] | None = Field(default=None, max_length=MAX_MAILBOXES)
    daily_limit: int | None = Field(default=None, ge=1, le=MAX_CAMPAIGN_DAILY_LIMIT)
    stop_on_reply: bool | None = None
    stop_on_company_reply: bool | None = None
    wait_for_validation: bool | None = None
    send_to_unknown: bool | None = None
    bounce_protection: BounceProtectionChange | None = Field(
        default=None,
        description="`{enabled, threshold_percent, window, min_sample}`; the fields left out keep their values.",
    )


class UpdateCampaignSettings(Command):
    campaign_id: UUID
    change: SettingsChange
    fields_set: list[Text] = Field(
        max_length=8, description="The fields the caller named (so a null clears, and an absent field keeps)"
    )


class ReplaceSequence(Command):
    campaign_id: UUID
    steps: SequenceSteps


class CampaignAction(StrEnum):
    ACTIVATE = "activate"
    PAUSE = "pause"
    RESUME = "resume"


class ChangeCampaignStatus(Command):
    campaign_id: UUID
    action: CampaignAction
    mailbox_failures: list[Text] = Field(
        default_factory=list,
        max_length=MAX_MAILBOXES,
        description="What failed when the gateway tested the campaign's mailboxes before activating, in "
        "words, one per mailbox: each is a reason the activation is refused.",
    )


class GetCampaign(Command):
    campaign_id: UUID


class StepCount(BaseModel):
    """Where a campaign's leads are on one step."""

    step: int
    sent: int = Field(default=0, description="Leads whose step was sent.")
    due: int = Field(default=0, description="Leads whose step is due and handed to the mailer, not yet sent.")
    waiting: int = Field(default=0, description="Leads whose next step this is, not yet due.")
    uncertain: int = Field(default=0, description="Sends that may or may not have reached the server.")
    not_sendable: int = Field(default=0, description="Leads missing a variable the step needs.")
    failed: int = Field(default=0, description="Sends given up (suppressed, rejected, retries ran out).")


class CampaignStateReply(Reply):
    campaign_id: UUID
    status: CampaignStatus
    settings: CampaignSettingsData
    steps: list[StepData]
    step_counts: list[StepCount] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list,
        description="What keeps the campaign from sending as set (an unhealthy mailbox).",
    )
    paused_reason: PauseReason | None = Field(
        default=None, description="Why the campaign paused itself; none when a person paused it."
    )
    paused_detail: str | None = Field(default=None, description="The pause's reason in words.")


class PreviewSequence(Command):
    """Render a campaign's steps for one of its leads: the saved steps, or `steps` as being edited."""

    campaign_id: UUID
    lead_id: UUID
    steps: SequenceSteps | None = None


class PreviewedStep(BaseModel):
    step: int
    subject: str = ""
    body: str = ""
    missing: list[str] = Field(default_factory=list, description="Variables the lead has no value for.")
    errors: list[str] = Field(default_factory=list, description="What is wrong with the step's templates.")


class SequencePreview(Reply):
    campaign_id: UUID
    lead_id: UUID
    steps: list[PreviewedStep] = Field(default_factory=list)
