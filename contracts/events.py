"""Event contracts: the only shape in which services talk to each other."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal
from uuid import UUID, uuid4

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from contracts._status import ImportEndState, LeadStatus
from contracts.campaign_settings import CampaignSettingsData, CampaignStatus, StepData
from contracts.subjects import event_subject, import_progress_subject

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

    message_id: str
    from_address: str
    subject_line: str = Field(default="", alias="subject")
    snippet: str = ""


class ImportedLead(_Frozen):
    lead_id: UUID
    email: str
    row: int = Field(ge=1, description="1-based data row number in the source file")
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    phone: str | None = None
    website: str | None = None
    city: str | None = None
    industry: str | None = None
    custom: dict[str, str] = Field(default_factory=dict)


class LeadImported(ImportEvent):
    event_type: Literal["lead_imported"] = "lead_imported"
    chunk: int = Field(ge=0)
    leads: list[ImportedLead] = Field(min_length=1, max_length=MAX_BATCH)


class ImportCompleted(ImportEvent):
    event_type: Literal["import_completed"] = "import_completed"
    state: ImportEndState
    counts: dict[str, int]
    error: str | None = None


class ImportProgress(ImportEvent):
    ephemeral: ClassVar[bool] = True

    event_type: Literal["import_progress"] = "import_progress"
    percent: float = Field(ge=0, le=100)
    rows_done: int = Field(ge=0)
    counts: dict[str, int]
    total_rows: int | None = Field(
        default=None, ge=0, description="the rows the import will read, once its first pass has counted them"
    )

    @property
    def subject(self) -> str:
        # The stream subject would get a core publish stored; progress must stay out of the stream.
        return import_progress_subject(self.import_id)


class CampaignCreated(CampaignEvent):
    event_type: Literal["campaign_created"] = "campaign_created"
    name: str


class CampaignUpdated(CampaignEvent):
    """A campaign's status, settings or sequence changed: the whole state after the change."""

    event_type: Literal["campaign_updated"] = "campaign_updated"
    status: CampaignStatus
    settings: CampaignSettingsData
    steps: list[StepData]


ValidationRun = Annotated[
    int,
    Field(
        ge=0,
        description="0 for a lead's first verification, one more for every re-run: a lead's verdict is the "
        "one of its highest run, whatever order verdicts arrive in",
    ),
]


class LeadValidated(LeadEvent):
    """One lead's verdict (the `leadflow validate` CLI and external subscribers); the validator itself
    announces verdicts in batches (`LeadsValidated`)."""

    event_type: Literal["lead_validated"] = "lead_validated"
    email: str
    verdict: Verdict
    reason: str
    mx: str | None
    smtp_code: int | None
    catch_all: bool = False
    disposable: bool = False
    role: bool = False
    run: ValidationRun = 0


class ValidatedLead(_Frozen):
    """One verdict inside a `LeadsValidated` batch: the fields of `LeadValidated` past its envelope."""

    lead_id: UUID
    email: str
    verdict: Verdict
    reason: str
    mx: str | None = None
    smtp_code: int | None = None
    catch_all: bool = False
    disposable: bool = False
    role: bool = False
    run: ValidationRun = 0


class LeadsValidated(CampaignEvent):
    """Up to 1,000 verdicts of one campaign's leads, recorded together: verdicts travel batched like
    imports, so a verification backlog is a few hundred messages, not a hundred thousand."""

    event_type: Literal["leads_validated"] = "leads_validated"
    leads: list[ValidatedLead] = Field(min_length=1, max_length=MAX_BATCH)

    def one_by_one(self) -> list[LeadValidated]:
        """The batch as single-lead events sharing its envelope time (the status fold's input)."""
        return [
            LeadValidated(
                event_id=self.event_id,
                occurred_at=self.occurred_at,
                workspace_id=self.workspace_id,
                campaign_id=self.campaign_id,
                **lead.model_dump(),
            )
            for lead in self.leads
        ]


class StepDue(StepEvent):
    event_type: Literal["step_due"] = "step_due"
    due_at: UtcDatetime


class EmailSent(StepEvent):
    event_type: Literal["email_sent"] = "email_sent"
    message_id: str
    mailbox: str


class EmailBounced(LeadEvent):
    event_type: Literal["email_bounced"] = "email_bounced"
    source: BounceSource
    kind: BounceKind
    smtp_code: int | None
    diagnostic: str = ""
    email: str


class ReplyDetected(InboundMessageEvent):
    event_type: Literal["reply_detected"] = "reply_detected"


class AutoReplyDetected(InboundMessageEvent):
    event_type: Literal["auto_reply_detected"] = "auto_reply_detected"


class LeadUnsubscribed(LeadEvent):
    event_type: Literal["lead_unsubscribed"] = "lead_unsubscribed"
    email: str
    source: UnsubscribeSource


class LeadCompleted(LeadEvent):
    event_type: Literal["lead_completed"] = "lead_completed"
    total_steps: StepNumber


class LeadStatusChanged(CampaignEvent):
    """A human's decision for a batch of leads."""

    event_type: Literal["lead_status_changed"] = "lead_status_changed"
    lead_ids: list[UUID] = Field(min_length=1, max_length=MAX_BATCH)
    status: LeadStatus
    changed_by: str
    reason: str | None = None
    job_id: UUID | None = None


class LeadsRemoved(CampaignEvent):
    """A human removed a batch of leads from a campaign: every service forgets them for that campaign, so
    the same address can be imported into it again (as a new lead)."""

    event_type: Literal["leads_removed"] = "leads_removed"
    lead_ids: list[UUID] = Field(min_length=1, max_length=MAX_BATCH)
    removed_by: str
    job_id: UUID | None = None


AnyEvent = Annotated[
    LeadImported
    | ImportCompleted
    | ImportProgress
    | CampaignCreated
    | CampaignUpdated
    | LeadValidated
    | LeadsValidated
    | StepDue
    | EmailSent
    | EmailBounced
    | ReplyDetected
    | AutoReplyDetected
    | LeadUnsubscribed
    | LeadCompleted
    | LeadStatusChanged
    | LeadsRemoved,
    Field(discriminator="event_type"),
]

_EVENT_CLASSES: Final[tuple[type[Event], ...]] = (
    LeadImported,
    ImportCompleted,
    ImportProgress,
    CampaignCreated,
    CampaignUpdated,
    LeadValidated,
    LeadsValidated,
    StepDue,
    EmailSent,
    EmailBounced,
    ReplyDetected,
    AutoReplyDetected,
    LeadUnsubscribed,
    LeadCompleted,
    LeadStatusChanged,
    LeadsRemoved,
)

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.model_fields["event_type"].default: cls for cls in _EVENT_CLASSES
}

_ADAPTER: Final[TypeAdapter[AnyEvent]] = TypeAdapter(AnyEvent)


def parse_event(data: bytes | str | Mapping[str, Any]) -> AnyEvent:
    """Decode a message body (JSON) or a mapping into its concrete event class."""
    if isinstance(data, bytes | str):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(dict(data))


# The service that emits each event type (each owns its own facts): shown as the source of a lead's
# timeline entries. LeadStatusChanged is a person's decision, made through the gateway.
EVENT_SOURCES: Final[dict[str, str]] = {
    "lead_imported": "importer",
    "import_completed": "importer",
    "import_progress": "importer",
    "campaign_created": "sequencer",
    "campaign_updated": "sequencer",
    "lead_validated": "validator",
    "leads_validated": "validator",
    "step_due": "sequencer",
    "email_sent": "mailer",
    "email_bounced": "inbox",
    "reply_detected": "inbox",
    "auto_reply_detected": "inbox",
    "lead_unsubscribed": "gateway",
    "lead_completed": "sequencer",
    "lead_status_changed": "gateway",
    "leads_removed": "gateway",
}
