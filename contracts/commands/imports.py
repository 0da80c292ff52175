"""Commands to the importer about CSV imports: preview, start, follow, list and cancel."""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from pydantic import Field

from contracts._status import ImportState
from contracts.commands.base import Command
from contracts.replies import Reply
from contracts.text import Text

# The lead fields an import can map a column to; every other column becomes a custom variable.
LEAD_FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "company_name",
    "phone",
    "website",
    "city",
    "industry",
)


class StartCsvImport(Command):
    import_id: UUID
    campaign_id: UUID
    object_name: Text
    filename: Text = ""
    total_bytes: int = Field(ge=0)
    mapping: dict[Text, Text]


class GetImport(Command):
    import_id: UUID


class ImportStatusReply(Reply):
    id: UUID
    campaign_id: UUID
    source: str | None = None
    filename: str | None = None
    state: ImportState
    # Why the import failed (state `failed`): the import's outcome, not a refusal of the command.
    error: str | None = None
    percent: float = 0.0
    rows_done: int = 0
    total_rows: int | None = None
    cancel_requested: bool = False
    report_object: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    created_at: datetime | None = None
    finished_at: datetime | None = None


class CancelImport(Command):
    import_id: UUID


IMPORT_PAGE_MAX = 100


class ListCampaignImports(Command):
    """A campaign's imports, newest first; `cursor` is the previous page's `next_cursor`."""

    campaign_id: UUID
    limit: int = Field(default=20, ge=1, le=IMPORT_PAGE_MAX)
    cursor: Text | None = None


class ImportPage(Reply):
    items: list[ImportStatusReply] = Field(default_factory=list)
    next_cursor: str | None = None


class PreviewCsv(Command):
    """The first part of a file (the gateway sends at most PREVIEW_BYTES of it), base64-encoded."""

    sample_base64: Text
    truncated: bool

    @classmethod
    def of(cls, workspace_id: UUID, sample: bytes, truncated: bool) -> PreviewCsv:
        return cls(
            workspace_id=workspace_id, sample_base64=base64.b64encode(sample).decode(), truncated=truncated
        )

    @property
    def sample(self) -> bytes:
        return base64.b64decode(self.sample_base64)


PREVIEW_BYTES = 512 * 1024
PREVIEW_ROWS = 20


class PreviewReply(Reply):
    encoding: str
    delimiter: str
    headers: list[str] = Field(default_factory=list)
    rows: list[list[str]] = Field(default_factory=list)
    suggested_mapping: dict[str, str] = Field(default_factory=dict)
