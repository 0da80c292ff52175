"""Event contracts: the only shape in which services talk to each other."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, ClassVar, Final, Literal
from uuid import UUID

from pydantic import Field, TypeAdapter

from contracts._envelope import (
    MAX_BATCH,
    BounceKind,
    BounceSource,
    CampaignEvent,
    Event,
    ImportEvent,
    InboundMessageEvent,
    LeadEvent,
    StepEvent,
    StepNumber,
    UnsubscribeSource,
    UtcDatetime,
    Verdict,
    _Frozen,
)
from contracts._status import ImportEndState, LeadStatus
from contracts.campaign_settings import CampaignSettingsData, CampaignStatus, StepData
from contracts.inbound import InboundKind, InboxMessageStored
from contracts.sending import (
    EmailSent,
    LeadsScheduled,
    MailboxChanged,
    MailboxHealthChanged,
    ScheduledLead,
    SendFailed,
    SendFailure,
    SendUncertain,
    StepDue,
    StepNotSendable,
)
from contracts.subjects import import_progress_subject

__all__ = [
    "EVENT_SOURCES",
    "EVENT_TYPES",
    "MAX_BATCH",
    "AnyEvent",
    "AutoReplyDetected",
    "BounceKind",
    "BounceSource",
    "CampaignCreated",
    "CampaignEvent",
    "CampaignUpdated",
    "EmailBounced",
    "EmailSent",
    "Event",
    "ImportCompleted",
    "ImportEvent",
    "ImportProgress",
    "ImportedLead",
    "InboundKind",
    "InboundMessageEvent",
    "InboundReclassified",
    "InboxMessageStored",
    "LeadCompleted",
    "LeadEvent",
    "LeadImported",
    "LeadStatusChanged",
    "LeadUnsubscribed",
    "LeadValidated",
    "LeadsRemoved",
    "LeadsScheduled",
    "LeadsValidated",
    "MailboxChanged",
    "MailboxHealthChanged",
    "ReplyDetected",
    "ScheduledLead",
    "SendFailed",
    "SendFailure",
    "SendUncertain",
    "SequenceStopped",
    "StepDue",
    "StepEvent",
    "StepNotSendable",
    "StepNumber",
    "UnsubscribeSource",
    "UtcDatetime",
    "ValidatedLead",
    "ValidationRun",
    "Verdict",
    "parse_event",
]


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
    announced_on: ClassVar[str] = import_progress_subject("{import_id}")

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


class EmailBounced(LeadEvent):
    event_type: Literal["email_bounced"] = "email_bounced"
    source: BounceSource
    kind: BounceKind
    smtp_code: int | None
    diagnostic: str = ""
    email: str
    step: StepNumber | None = Field(default=None, description="The step whose send bounced, when known.")
    message_id: str | None = Field(default=None, description="The Message-ID of the send that bounced.")
    mailbox_id: UUID | None = None
    status: str | None = Field(default=None, description="The enhanced status code (RFC 3463), when known.")
    rule: str = Field(default="", description="The inbox classifier's rule (DSN bounces).")
    inbox_message_id: UUID | None = Field(default=None, description="The inbox's stored bounce message.")


class ReplyDetected(InboundMessageEvent):
    event_type: Literal["reply_detected"] = "reply_detected"


class AutoReplyDetected(InboundMessageEvent):
    """An out-of-office or another automatic answer: the sequence goes on, but not before `return_date`."""

    event_type: Literal["auto_reply_detected"] = "auto_reply_detected"
    return_date: date | None = Field(
        default=None,
        description="The day the sender says they are back; the lead's next step waits until after it.",
    )


class InboundReclassified(LeadEvent):
    """A person overturned the inbox's decision on a message linked to this lead (the Unibox's reclassify).

    `undoes` is the status the overturned decision gave the lead and that no other stored message of the
    lead in this campaign still gives (`replied` for a reply, `bounced` for a hard bounce; None when there
    is nothing to undo): the lead leaves it (the gateway's status fold), and a hard bounce's suppression of
    `email` is lifted (the importer, only for an entry a bounce put there). The new kind's own event
    (ReplyDetected, EmailBounced, AutoReplyDetected) is emitted beside this one, in the same transaction.
    """

    event_type: Literal["inbound_reclassified"] = "inbound_reclassified"
    inbox_message_id: UUID
    from_kind: InboundKind
    to_kind: InboundKind
    by: str = Field(description="Who overturned it: the API key's or the user's identity.")
    email: str = Field(default="", description="The lead's address (a bounce's failed recipient).")
    undoes: LeadStatus | None = None


class LeadUnsubscribed(LeadEvent):
    event_type: Literal["lead_unsubscribed"] = "lead_unsubscribed"
    email: str
    source: UnsubscribeSource


class LeadCompleted(LeadEvent):
    event_type: Literal["lead_completed"] = "lead_completed"
    total_steps: StepNumber


class SequenceStopped(LeadEvent):
    """The sequencer stopped the lead's sequence for a reason none of the lead's own events gives: another
    lead of the campaign at the same company (`domain`, never a free-mail one) replied, and the campaign
    stops on a company reply (`stop_on_company_reply`). `stops_sequence` says so, so the mailer drops the
    lead's queued send and the leads table its next send, as for the lead's own stop events; the lead's
    status stays (it did not reply)."""

    event_type: Literal["sequence_stopped"] = "sequence_stopped"
    reason: Literal["company replied"] = Field(description="Why, as the sequencer records the stop.")
    replied_lead_id: UUID = Field(description="The lead whose reply stopped this one.")
    domain: str = Field(description="The company's email domain (lowercase) the two leads share.")


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
    | SendUncertain
    | SendFailed
    | StepNotSendable
    | LeadsScheduled
    | MailboxHealthChanged
    | MailboxChanged
    | EmailBounced
    | ReplyDetected
    | AutoReplyDetected
    | InboundReclassified
    | InboxMessageStored
    | LeadUnsubscribed
    | LeadCompleted
    | SequenceStopped
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
    SendUncertain,
    SendFailed,
    StepNotSendable,
    LeadsScheduled,
    MailboxChanged,
    MailboxHealthChanged,
    EmailBounced,
    ReplyDetected,
    AutoReplyDetected,
    InboundReclassified,
    InboxMessageStored,
    LeadUnsubscribed,
    LeadCompleted,
    SequenceStopped,
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
    "send_uncertain": "mailer",
    "send_failed": "mailer",
    "step_not_sendable": "sequencer",
    "leads_scheduled": "sequencer",
    "mailbox_health_changed": "mailer",
    "mailbox_changed": "mailer",
    "email_bounced": "inbox",
    "reply_detected": "inbox",
    "auto_reply_detected": "inbox",
    "inbound_reclassified": "inbox",
    "inbox_message_stored": "inbox",
    "lead_unsubscribed": "gateway",
    "lead_completed": "sequencer",
    "sequence_stopped": "sequencer",
    "lead_status_changed": "gateway",
    "leads_removed": "gateway",
}
