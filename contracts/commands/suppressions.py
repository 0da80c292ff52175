"""Commands to the importer about the workspace's suppression list."""

from datetime import datetime

from pydantic import BaseModel, Field

from contracts.commands.base import Command
from contracts.replies import Reply
from contracts.text import MaybeText, Text


class AddSuppression(Command):
    email: Text = Field(min_length=1, max_length=320)
    reason: Text = Field(default="", max_length=500)


class RemoveSuppression(Command):
    email: Text = Field(min_length=1, max_length=320)


class ListSuppressions(Command):
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: Text | None = None
    q: MaybeText = Field(default=None, max_length=320)


class CheckSuppressions(Command):
    """Which of these addresses are suppressed (the mailer asks again right before it sends)."""

    emails: list[Text] = Field(min_length=1, max_length=1000)


class SuppressedEmails(Reply):
    emails: list[str] = Field(default_factory=list, description="The asked addresses that are suppressed.")


class Suppression(BaseModel):
    email: str
    reason: str
    source: str
    created_at: datetime


class SuppressionReply(Reply):
    suppression: Suppression


class SuppressionRemoved(Reply):
    """The address is off the suppression list."""


class SuppressionPage(Reply):
    items: list[Suppression] = Field(default_factory=list)
    total: int = 0
    next_cursor: str | None = None


class UploadSuppressions(Command):
    """Add every address of an uploaded CSV (an object in the uploads bucket) to the suppression list."""

    object_name: Text
    filename: Text = Field(default="", max_length=500)
    reason: Text = Field(default="", max_length=500)


class RejectedSuppressionRow(BaseModel):
    row: int = Field(description="the row in the file as a spreadsheet numbers it (the first row is 1)")
    value: str = Field(description="the cell as written (empty for a row that could not be read)")
    reason: str


class SuppressionsUploaded(Reply):
    added: int = 0
    already: int = 0
    # Every rejected row, as a JSON list of RejectedSuppressionRow in the uploads bucket: a reply is one
    # NATS message, and a file of short bad rows would make the list many times larger than the file.
    rejected_count: int = 0
    rejected_object: str | None = None
