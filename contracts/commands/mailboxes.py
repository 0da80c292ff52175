"""Commands to the mailer about the workspace's sender mailboxes. A password goes in, never out."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.commands.base import Command
from contracts.replies import Reply
from contracts.text import MaybeText, Text

Security = Literal["none", "starttls", "tls"]
MAILBOX_PAGE_MAX = 500


class ServerIn(BaseModel):
    """How to reach and log in to a mail server (SMTP or IMAP). An empty username means no login."""

    host: Text = Field(max_length=253)
    port: int
    username: Text = Field(default="", max_length=320)
    password: Text = Field(default="", max_length=1000)
    security: Security


class ServerPatch(BaseModel):
    """Some of a server's settings; the password changes only when given."""

    host: MaybeText = Field(default=None, max_length=253)
    port: int | None = None
    username: MaybeText = Field(default=None, max_length=320)
    password: MaybeText = Field(default=None, max_length=1000)
    security: Security | None = None


class CreateMailbox(Command):
    mailbox_id: UUID
    email: Text = Field(max_length=320)
    name: Text = Field(max_length=200)
    smtp: ServerIn
    imap: ServerIn | None = None
    daily_limit: int = 30
    min_gap_seconds: int = 120


class UpdateMailbox(Command):
    """Change what is given; `remove_imap` drops the IMAP settings."""

    mailbox_id: UUID
    email: MaybeText = Field(default=None, max_length=320)
    name: MaybeText = Field(default=None, max_length=200)
    smtp: ServerPatch | None = None
    imap: ServerPatch | None = None
    remove_imap: bool = False
    daily_limit: int | None = None
    min_gap_seconds: int | None = None


class GetMailbox(Command):
    mailbox_id: UUID


class DeleteMailbox(Command):
    mailbox_id: UUID


class TestMailbox(Command):
    """Connect and log in to the mailbox's SMTP server, and its IMAP server when it has one."""

    mailbox_id: UUID


class ListMailboxes(Command):
    limit: int = Field(default=100, ge=1, le=MAILBOX_PAGE_MAX)
    after: UUID | None = Field(default=None, description="the last id of the previous page")


class ServerOut(BaseModel):
    host: str
    port: int
    username: str
    security: Security


class Mailbox(BaseModel):
    id: UUID
    email: str
    name: str
    smtp: ServerOut
    imap: ServerOut | None
    daily_limit: int
    min_gap_seconds: int
    created_at: datetime
    updated_at: datetime


class MailboxReply(Reply):
    mailbox: Mailbox


class MailboxPage(Reply):
    items: list[Mailbox] = Field(default_factory=list)
    next_after: UUID | None = None


class MailboxDeleted(Reply):
    """The mailbox is gone."""


class ServerCheck(BaseModel):
    ok: bool
    error: str | None = Field(default=None, description="what failed, in words (None when ok)")


class MailboxTestReply(Reply):
    ok: bool
    smtp: ServerCheck
    imap: ServerCheck | None


class ListImapLogins(BaseModel):
    """The inbox's question to the mailer: every mailbox (of every workspace) that has IMAP settings, with
    its password still encrypted (the services share the secret key; the reply is never stored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    limit: int = Field(default=MAILBOX_PAGE_MAX, ge=1, le=MAILBOX_PAGE_MAX)
    after: UUID | None = Field(default=None, description="the last mailbox id of the previous page")


class ImapLogin(BaseModel):
    mailbox_id: UUID
    workspace_id: UUID
    email: str
    host: str
    port: int
    username: str
    password_encrypted: str = Field(description="Fernet token under the shared secret key")
    security: Security
    updated_at: datetime


class ImapLoginPage(Reply):
    items: list[ImapLogin] = Field(default_factory=list)
    next_after: UUID | None = None
