"""The events of sending: a step due, sent, uncertain, given up or not sendable; the leads' next steps;
a sender mailbox's health."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from contracts._envelope import MAX_BATCH, CampaignEvent, Event, StepEvent, StepNumber, UtcDatetime, _Frozen

# Why the mailer gave up on a step without sending it: the address is suppressed (checked again at send
# time), the server refused the message itself (a 5xx outside RCPT), or temporary failures went on until
# the retry period ran out.
SendFailure = Literal["suppressed", "rejected", "expired"]

# The wire field is "subject", but ``Event.subject`` is already the NATS subject, hence the alias.
_SUBJECT_ALIAS = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)


class StepDue(StepEvent):
    """A step of a lead is due: everything the mailer needs to send it, rendered by the sequencer.

    The campaign's mailboxes, limits, window and status are the mailer's copy of `CampaignUpdated`; a
    follow-up (`in_reply_to` set) keeps to the mailbox that sent the thread when it still can.
    """

    model_config = _SUBJECT_ALIAS

    event_type: Literal["step_due"] = "step_due"
    due_at: UtcDatetime
    email: str
    subject_line: str = Field(
        alias="subject", description="Rendered, one line; a follow-up's is 'Re: ' + step 1's."
    )
    body: str = Field(description="Rendered plain text.")
    in_reply_to: str | None = Field(
        default=None, description="The Message-ID (with angle brackets) of the lead's previous send."
    )
    references: list[str] = Field(
        default_factory=list, description="The Message-IDs of the lead's earlier sends, oldest first."
    )
    mailbox_id: UUID | None = Field(default=None, description="The mailbox that sent the lead's thread.")


class EmailSent(StepEvent):
    model_config = _SUBJECT_ALIAS

    event_type: Literal["email_sent"] = "email_sent"
    message_id: str
    mailbox: str
    mailbox_id: UUID
    subject_line: str = Field(default="", alias="subject")
    recipient: str | None = Field(
        default=None,
        description="The address it was sent to (the inbox links a reply without thread headers by it).",
    )


class SendUncertain(StepEvent):
    """The mailer cannot know whether the step reached the server (a crash between DATA and recording
    the answer): never sent again automatically; a person decides."""

    event_type: Literal["send_uncertain"] = "send_uncertain"
    message_id: str
    mailbox_id: UUID
    mailbox: str


class SendFailed(StepEvent):
    """The mailer gave up on the step without sending it (the lead's sequence stops there)."""

    event_type: Literal["send_failed"] = "send_failed"
    reason: SendFailure
    smtp_code: int | None = None
    detail: str = ""


class StepNotSendable(StepEvent):
    """The step's templates name variables the lead has no value for (and no fallback): not sent."""

    event_type: Literal["step_not_sendable"] = "step_not_sendable"
    missing: list[str] = Field(min_length=1)


class ScheduledLead(_Frozen):
    lead_id: UUID
    step: StepNumber = Field(description="The next step to send.")
    total_steps: StepNumber
    due_at: UtcDatetime | None = Field(
        description="When it is due (the window may move the send later); none: waiting (validation)."
    )


class LeadsScheduled(CampaignEvent):
    """The next step and its due time of a batch of leads (the leads table's Sequence column)."""

    event_type: Literal["leads_scheduled"] = "leads_scheduled"
    leads: list[ScheduledLead] = Field(min_length=1, max_length=MAX_BATCH)


class MailboxHealthChanged(Event):
    """A sender mailbox became unhealthy (its sends keep failing) or healthy again."""

    event_type: Literal["mailbox_health_changed"] = "mailbox_health_changed"
    mailbox_id: UUID
    email: str
    healthy: bool
    reason: str = ""


class MailboxChanged(Event):
    """A sender mailbox was added, changed or removed: the inbox reads its IMAP settings again (from the
    mailer's `list_imap_logins`, so no password travels in a stored event)."""

    event_type: Literal["mailbox_changed"] = "mailbox_changed"
    mailbox_id: UUID
    removed: bool = False
