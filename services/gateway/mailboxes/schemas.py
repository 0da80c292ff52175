"""Sender mailboxes as the API takes and answers them. A password is taken, never answered."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.commands import Security
from contracts.text import MaybeText, Text


class ServerSettingsIn(BaseModel):
    host: Text = Field(min_length=1, max_length=253)
    port: int = Field(description="1 to 65535")
    username: Text = Field(default="", max_length=320, description="empty: connect without logging in")
    password: Text = Field(default="", max_length=1000, description="stored encrypted; never answered")
    security: Security = Field(
        description="none, starttls (upgrade a plain connection) or tls (from the start)"
    )


class ServerSettingsPatch(BaseModel):
    host: MaybeText = Field(default=None, max_length=253)
    port: int | None = None
    username: MaybeText = Field(default=None, max_length=320)
    password: MaybeText = Field(default=None, max_length=1000, description="changed only when given")
    security: Security | None = None


class MailboxIn(BaseModel):
    email: Text = Field(min_length=1, max_length=320)
    name: Text = Field(min_length=1, max_length=200)
    smtp: ServerSettingsIn
    imap: ServerSettingsIn | None = None
    daily_limit: int = Field(default=30, description="emails a day from this mailbox, across campaigns; ≥ 1")
    min_gap_seconds: int = Field(
        default=120,
        description="seconds at least between two sends (a random extra of up to 50% is added); ≥ 0",
    )


class MailboxPatch(BaseModel):
    """Any of the fields; `"imap": null` removes the IMAP settings."""

    email: MaybeText = Field(default=None, max_length=320)
    name: MaybeText = Field(default=None, max_length=200)
    smtp: ServerSettingsPatch | None = None
    imap: ServerSettingsPatch | None = None
    daily_limit: int | None = None
    min_gap_seconds: int | None = None


class ServerSettingsOut(BaseModel):
    host: str
    port: int
    username: str
    security: Security


class ImapReadingOut(BaseModel):
    """Where reading the mailbox's replies over IMAP stands, as the inbox service has it."""

    state: Literal["reading", "failing", "starting", "unknown"] = Field(
        description="reading: connected, no error since; failing: the last attempt failed (see `error`); "
        "starting: not connected yet, or no inbox replica holds it; unknown: the inbox service did not "
        "answer in time (the other fields are null)"
    )
    error: str | None = Field(description="why reading fails, in the server's or the network's words")
    checked_at: datetime | None = Field(
        description="the last time the IMAP server answered (a connect, a wake from IDLE, a poll, new mail)"
    )
    messages: int | None = Field(description="messages read and stored from this mailbox; null when unknown")
    last_message_at: datetime | None = Field(description="when the newest of them was stored")


class MailboxOut(BaseModel):
    id: UUID
    email: str
    name: str
    smtp: ServerSettingsOut
    imap: ServerSettingsOut | None
    daily_limit: int
    min_gap_seconds: int
    created_at: datetime
    updated_at: datetime
    imap_reading: ImapReadingOut | None = Field(
        description="null when the mailbox has no IMAP settings; state `unknown` when the inbox service "
        "did not answer within about 1.5 seconds"
    )


class MailboxList(BaseModel):
    items: list[MailboxOut]
    next_after: UUID | None = Field(description="pass as `after` for the next page; null on the last")


class ServerCheckOut(BaseModel):
    ok: bool
    error: str | None = Field(description="what failed, in words; null when it worked")


class MailboxTestOut(BaseModel):
    ok: bool = Field(description="every configured server accepted the login")
    smtp: ServerCheckOut
    imap: ServerCheckOut | None = Field(description="null when the mailbox has no IMAP settings")
