"""Commands sent over NATS request/reply (`leadflow.cmd.<service>.<verb>`) and their replies.

Commands are imperative and addressed to one service; unlike events they are not stored in the stream.
"""

from __future__ import annotations

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
    counts: dict[str, int] = Field(default_factory=dict)
    created_at: datetime | None = None
    finished_at: datetime | None = None
