"""The envelope every event shares, and the base classes of campaign, lead and step events."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Final, Literal
from uuid import UUID, uuid4

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from contracts.subjects import event_subject

MAX_BATCH: Final = 1000


def _as_utc(value: datetime) -> datetime:
    # A naive datetime is ambiguous across hosts and would make ordering of events meaningless.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
StepNumber = Annotated[int, Field(ge=1)]

BounceSource = Literal["smtp", "dsn"]
BounceKind = Literal["hard", "soft"]
UnsubscribeSource = Literal["link", "one_click", "reply", "manual"]
# Why the mailer gave up on a step without sending it: the address is suppressed (checked again at send
# time), the server refused the message itself (a 5xx outside RCPT), or temporary failures went on until
# the retry period ran out.
SendFailure = Literal["suppressed", "rejected", "expired"]


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(_Frozen):
    """Envelope shared by all events; concrete subclasses pin ``event_type`` to a Literal."""

    # Ephemeral events go over core NATS and are never stored in the stream.
    ephemeral: ClassVar[bool] = False
    # An ephemeral event's subject as the AsyncAPI document names it, its variable part in braces
    # ("leadflow-progress.{import_id}"); a stored event's is always `leadflow.{workspace_id}.<event_type>`.
    announced_on: ClassVar[str] = ""

    event_id: UUID = Field(default_factory=uuid4)
    event_type: str
    schema_version: int = 1
    occurred_at: UtcDatetime = Field(default_factory=_now)
    workspace_id: UUID

    @property
    def subject(self) -> str:
        return event_subject(self.workspace_id, self.event_type)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class CampaignEvent(Event):
    campaign_id: UUID


class LeadEvent(CampaignEvent):
    lead_id: UUID


class ImportEvent(CampaignEvent):
    import_id: UUID


class StepEvent(LeadEvent):
    step: StepNumber
    total_steps: StepNumber


class InboundMessageEvent(LeadEvent):
    # The wire field is "subject", but ``Event.subject`` is already the NATS subject, hence the alias.
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    message_id: str = Field(description="The inbound message's own Message-ID.")
    from_address: str
    subject_line: str = Field(default="", alias="subject")
    snippet: str = ""
    inbox_message_id: UUID | None = Field(default=None, description="The inbox's stored message (Unibox).")
    mailbox_id: UUID | None = Field(default=None, description="The mailbox it arrived in.")
    in_reply_to: str | None = Field(default=None, description="The Message-ID of the send it answers.")
    step: StepNumber | None = Field(default=None, description="The step whose send it answers, when known.")
    rule: str = Field(default="", description="The classifier's rule that decided its kind.")
