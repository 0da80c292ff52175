"""Commands to the inbox about the messages read from the workspace's mailboxes (the Unibox): list, read one,
mark read or unread, and overturn its decision (reclassify); and where reading each mailbox stands."""

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.commands.base import Command
from contracts.commands.mailboxes import MAILBOX_PAGE_MAX
from contracts.events import InboundKind
from contracts.replies import Reply
from contracts.text import MaybeText, Text

INBOX_PAGE_MAX = 200


class ListInboxMessages(Command):
    """The workspace's messages, newest first (received, then id), a page at a time; only those matching
    every filter given."""

    campaign_id: UUID | None = None
    mailbox_id: UUID | None = None
    kind: InboundKind | None = None
    unread: bool | None = Field(default=None, description="true: only unread; false: only read")
    limit: int = Field(default=50, ge=1, le=INBOX_PAGE_MAX)
    cursor: MaybeText = Field(default=None, max_length=500, description="`next_cursor` of the previous page")


class GetInboxMessage(Command):
    message_id: UUID


class MarkInboxMessage(Command):
    message_id: UUID
    read: bool


class ReclassifyInboxMessage(Command):
    """A person's decision on what a message is. The first decision stays (`classified_*`), the rule becomes
    `manual`, and the lead follows by events (docs/inbox.md, "Unibox API")."""

    message_id: UUID
    kind: InboundKind
    by: Text = Field(max_length=300, description="who decided: the API key's or the user's identity")


class InboxMessage(BaseModel):
    """A message as the list shows it."""

    id: UUID
    received_at: datetime
    mailbox_id: UUID
    from_address: str | None
    subject: str
    snippet: str = Field(description="the sender's own text on one line, at most 280 characters")
    kind: InboundKind
    rule: str
    status: str | None = Field(description="the enhanced status code (RFC 3463) of a bounce, when stated")
    lead_id: UUID | None
    campaign_id: UUID | None
    step: int | None
    read: bool
    return_date: date | None


class SentMessage(BaseModel):
    """A send of the thread: what went to the lead in the campaign."""

    message_id: str
    step: int
    subject: str
    sent_at: datetime


class InboxMessageDetail(InboxMessage):
    text: str = Field(description="the sender's own text, quoted originals left out")
    full_text: str = Field(description="the whole text body, quotes included (at most 64 kB)")
    classified_kind: InboundKind = Field(description="the inbox's first decision")
    classified_rule: str
    diagnostic: str
    bounced_recipient: str | None
    in_reply_to: str | None
    linked_by: str | None
    reclassified_by: str | None
    reclassified_at: datetime | None
    thread: list[SentMessage] = Field(default_factory=list)


class InboxMessagePage(Reply):
    items: list[InboxMessage] = Field(default_factory=list)
    next_cursor: str | None = None


class InboxMessageReply(Reply):
    message: InboxMessageDetail


class InboxMessageMarked(Reply):
    message: InboxMessage


# reading: a replica holds the mailbox and its server answered, with no error since; failing: the last
# attempt failed (`error` says how); starting: not connected yet, or no replica holds it (none running).
ReadingState = Literal["reading", "failing", "starting"]


class GetMailboxReading(Command):
    """Where reading stands for the workspace's mailboxes with IMAP settings: those given, or every one the
    inbox knows."""

    mailbox_ids: list[UUID] | None = Field(default=None, max_length=MAILBOX_PAGE_MAX)


class MailboxReading(BaseModel):
    mailbox_id: UUID
    state: ReadingState
    error: str | None = Field(description="why the last attempt failed, in words; null once one succeeds")
    checked_at: datetime | None = Field(
        description="the last time the server answered: a connect, a wake from IDLE or a poll, a batch"
    )
    messages: int = Field(description="messages stored from this mailbox")
    last_message_at: datetime | None = Field(description="when the newest of them was stored")


class MailboxReadingReply(Reply):
    items: list[MailboxReading] = Field(default_factory=list)
