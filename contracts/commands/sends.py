"""Commands to the mailer about a campaign's sends: what was sent, is queued, failed or is uncertain."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.commands.base import Command
from contracts.replies import Reply


class SendState(StrEnum):
    """A send's state (the mailer's `sends.state`): queued until reserved (`sending`), then settled."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    UNCERTAIN = "uncertain"
    BOUNCED = "bounced"
    FAILED = "failed"
    CANCELLED = "cancelled"


SEND_STATES: tuple[SendState, ...] = tuple(SendState)
SEND_PAGE_MAX = 500


class ListSends(Command):
    """A campaign's sends in id order, a page at a time; only those in `state` when given."""

    campaign_id: UUID
    state: SendState | None = None
    limit: int = Field(default=100, ge=1, le=SEND_PAGE_MAX)
    after: UUID | None = Field(default=None, description="the last id of the previous page")


class Send(BaseModel):
    id: UUID
    lead_id: UUID
    step: int
    total_steps: int
    email: str
    subject: str
    state: SendState
    mailbox_id: UUID | None
    mailbox: str | None = Field(description="The sending mailbox's address, once one was picked.")
    message_id: str | None
    attempts: int
    smtp_code: int | None
    last_error: str | None
    queued_at: datetime
    sent_at: datetime | None


class SendPage(Reply):
    items: list[Send] = Field(default_factory=list)
    next_after: UUID | None = None


class SendResolution(StrEnum):
    """A person's answer for an uncertain send (its mailer stopped between the SMTP server's answer and
    recording it, so nobody knows whether it went out)."""

    SENT = "sent"  # it went out (it is in the mailbox's Sent folder, or the recipient has it)
    RESEND = "resend"  # it did not: queue it again, to be sent as any other


class ResolveSend(Command):
    """Settle an uncertain send by hand: `sent` records it as sent (its EmailSent moves the lead on), `resend`
    queues it again. Only an uncertain send can be resolved."""

    send_id: UUID
    outcome: SendResolution


class SendResolved(Reply):
    send: Send
