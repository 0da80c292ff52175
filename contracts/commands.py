"""Commands sent over NATS request/reply (`leadflow.cmd.<service>.<verb>`) and their replies.

Commands are imperative and addressed to one service; unlike events they are not stored in the stream.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

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


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    workspace_id: UUID


class Reply(BaseModel):
    model_config = ConfigDict(frozen=True)
    # `error` is a sentence for a person; `error_code` is for programs (`not_found`, `invalid`, …).
    error: str | None = None
    error_code: str | None = None


class CreateCampaign(Command):
    campaign_id: UUID
    name: str = Field(min_length=1, max_length=200)


class CampaignCreatedReply(Reply):
    campaign_id: UUID | None = None
    name: str | None = None
    created_at: datetime | None = None


class StartCsvImport(Command):
    import_id: UUID
    campaign_id: UUID
    object_name: str
    filename: str = ""
    total_bytes: int = Field(ge=0)
    mapping: dict[str, str]


class GetImport(Command):
    import_id: UUID


ImportStatusState = Literal["running", "completed", "failed", "cancelled"]


class ImportStatusReply(Reply):
    id: UUID | None = None
    campaign_id: UUID | None = None
    source: str | None = None
    filename: str | None = None
    state: ImportStatusState | None = None
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


class PreviewCsv(Command):
    """The first part of a file (the gateway sends at most PREVIEW_BYTES of it), base64-encoded."""

    sample_base64: str
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
    encoding: str | None = None
    delimiter: str | None = None
    headers: list[str] = Field(default_factory=list)
    rows: list[list[str]] = Field(default_factory=list)
    suggested_mapping: dict[str, str] = Field(default_factory=dict)


class AddSuppression(Command):
    email: str = Field(min_length=1, max_length=320)
    reason: str = Field(default="", max_length=500)


class RemoveSuppression(Command):
    email: str = Field(min_length=1, max_length=320)


class ListSuppressions(Command):
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: str | None = None
    q: str | None = None


class Suppression(BaseModel):
    email: str
    reason: str
    source: str
    created_at: datetime


class SuppressionReply(Reply):
    suppression: Suppression | None = None


class SuppressionPage(Reply):
    items: list[Suppression] = Field(default_factory=list)
    total: int = 0
    next_cursor: str | None = None
