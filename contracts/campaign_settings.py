"""A campaign's settings, sequence and status as they travel: in the sequencer's commands and replies and
in `CampaignUpdated`. Wire shapes only; the sequencer validates them (the schedule, the templates)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from contracts.text import Text

MAX_MAILBOXES = 100
# A sequence travels whole in a command, its reply and CampaignUpdated, and a NATS message is at most 1 MB:
# its steps as JSON are held to half of that, leaving room for the rest of the message.
MAX_SEQUENCE_JSON_BYTES = 500_000
# Emails a day for one campaign: far above any real campaign, and inside PostgreSQL's integer.
MAX_CAMPAIGN_DAILY_LIMIT = 1_000_000


class CampaignStatus(StrEnum):
    """A campaign's status: the sequencer's `campaigns.status`, and the gateway's copy of it."""

    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class ScheduleData(BaseModel):
    """`{"timezone", "days", "from", "to"}`: an IANA zone, weekdays `mon`..`sun`, `HH:MM` (`to` may be
    `24:00`, the end of the day)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )
    timezone: Text = Field(max_length=100)
    days: list[Text] = Field(max_length=7)
    start: Text = Field(alias="from", max_length=5)
    end: Text = Field(alias="to", max_length=5)


# Bounce protection's ranges (the sequencer names a value outside them in its 422).
MIN_BOUNCE_WINDOW = 10
MAX_BOUNCE_WINDOW = 10_000


class PauseReason(StrEnum):
    """Why a campaign paused itself; a campaign a person paused has none."""

    BOUNCE_PROTECTION = "bounce_protection"


class BounceProtectionData(BaseModel):
    """The rolling bounce rate over a campaign's (and its mailboxes') latest sends that pauses it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = True
    threshold_percent: int = Field(
        default=5,
        ge=1,
        le=100,
        description="The campaign pauses when more than this share of the sends bounced.",
    )
    window: int = Field(
        default=100,
        ge=MIN_BOUNCE_WINDOW,
        le=MAX_BOUNCE_WINDOW,
        description="How many of the latest sends the rate is counted over.",
    )
    min_sample: int = Field(
        default=20,
        ge=1,
        le=MAX_BOUNCE_WINDOW,
        description="No rate is judged over fewer sends than this (at most `window`).",
    )


class BounceProtectionChange(BaseModel):
    """The bounce protection fields a PATCH names; a field left out (or null) keeps its value."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool | None = None
    threshold_percent: int | None = Field(default=None, ge=1, le=100)
    window: int | None = Field(default=None, ge=MIN_BOUNCE_WINDOW, le=MAX_BOUNCE_WINDOW)
    min_sample: int | None = Field(default=None, ge=1, le=MAX_BOUNCE_WINDOW)


class CampaignSettingsData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    schedule: ScheduleData | None = Field(
        default=None, description="The sending window; none set means any time of any day."
    )
    mailbox_ids: list[UUID] = Field(default_factory=list, max_length=MAX_MAILBOXES)
    daily_limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CAMPAIGN_DAILY_LIMIT,
        description="Emails per day for the campaign (its schedule's day); none: no limit.",
    )
    stop_on_reply: bool = True
    stop_on_company_reply: bool = Field(
        default=False,
        description="With stop_on_reply: a reply stops every lead of the campaign at the replier's company "
        "(the same email domain), unless that domain is a free-mail one (gmail.com, seznam.cz, …).",
    )
    wait_for_validation: bool = True
    send_to_unknown: bool = True
    bounce_protection: BounceProtectionData = Field(default_factory=BounceProtectionData)


class StepData(BaseModel):
    """A step as the user wrote it: an empty subject makes it a follow-up in step 1's thread."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    subject: Text = Field(default="", max_length=2000)
    body: Text = Field(max_length=200_000)
    delay_minutes: int = Field(ge=0)


_STEPS_JSON: TypeAdapter[list[StepData]] = TypeAdapter(list[StepData])


def _fits_a_message(steps: list[StepData]) -> list[StepData]:
    size = len(_STEPS_JSON.dump_json(steps))
    if size > MAX_SEQUENCE_JSON_BYTES:
        raise ValueError(
            f"the steps together are {size:,} bytes as JSON; a sequence is at most {MAX_SEQUENCE_JSON_BYTES:,}"
        )
    return steps


# The steps a client sends: at most 100 of them (the sequencer allows 20 and names the excess), and all
# of them small enough to travel in one message.
SequenceSteps = Annotated[list[StepData], Field(max_length=100), AfterValidator(_fits_a_message)]
