"""Commands to the sequencer about campaigns."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.campaign_settings import (
    MAX_CAMPAIGN_DAILY_LIMIT,
    MAX_MAILBOXES,
    CampaignSettingsData,
    CampaignStatus,
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
    wait_for_validation: bool | None = None
    send_to_unknown: bool | None = None


class UpdateCampaignSettings(Command):
    campaign_id: UUID
    change: SettingsChange
    fields_set: list[Text] = Field(
        max_length=6, description="The fields the caller named (so a null clears, and an absent field keeps)"
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


class GetCampaign(Command):
    campaign_id: UUID


class CampaignStateReply(Reply):
    campaign_id: UUID
    status: CampaignStatus
    settings: CampaignSettingsData
    steps: list[StepData]
