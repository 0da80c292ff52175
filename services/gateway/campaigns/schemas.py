"""Campaigns and the workspace as the API answers them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.campaign_settings import (
    CampaignSettingsData,
    CampaignStatus,
    PauseReason,
    SequenceSteps,
    StepData,
)
from contracts.commands import StepCount
from contracts.text import Text


class WorkspaceOut(BaseModel):
    id: UUID
    name: str


class CampaignIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)


class CampaignOut(BaseModel):
    id: UUID
    name: str
    created_at: datetime
    status: CampaignStatus = Field(
        default=CampaignStatus.DRAFT,
        description="`draft`, `active`, `paused` or `completed` (in the list: as last projected, a moment "
        "behind a change)",
    )
    leads: int = 0
    arriving: int = Field(
        default=0,
        description="Leads of the campaign's finished imports not listed yet: the importer has imported "
        "them and they are on their way to the list (seconds, more behind a large import). Never negative.",
    )


class SequenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: SequenceSteps = Field(
        description="Step 1's delay counts from when a lead becomes sendable, step n's from step n-1's send. "
        "An empty subject makes a step a follow-up in step 1's thread. Every error is answered at once (422). "
        "The steps together are at most 500,000 bytes as JSON.",
    )


class CampaignDetailOut(CampaignOut):
    """A campaign with its status, settings, steps, and where its leads are on each step."""

    settings: CampaignSettingsData
    steps: list[StepData]
    step_counts: list[StepCount] = Field(
        default_factory=list, description="Per step of the sequence, in order: where the leads are on it."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What keeps the campaign from sending as set, in words (an unhealthy mailbox).",
    )
    paused_reason: PauseReason | None = Field(
        default=None,
        description="Why the campaign paused itself (`bounce_protection`); null when a person paused it or "
        "it is not paused. Resuming clears it.",
    )
    paused_detail: str | None = Field(
        default=None,
        description="The pause's reason in words, e.g. \"7 of the last 100 sends bounced (7%), over the 5% "
        'limit; mailbox sales@example.com".',
    )


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lead_id: UUID = Field(description="A lead of the campaign.")
    steps: SequenceSteps | None = Field(
        default=None, description="The steps as being edited; left out, the campaign's saved steps."
    )
