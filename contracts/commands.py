"""Commands sent over NATS request/reply (`leadflow.cmd.<service>.<verb>`) and their success replies.

Commands are imperative and addressed to one service; unlike events they are not stored in the stream.
A command is answered with its reply type or with a `contracts.replies.Refusal`.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from contracts._status import ImportState
from contracts.replies import Reply
from contracts.text import MaybeText, Text

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


class CreateCampaign(Command):
    campaign_id: UUID
    name: Text = Field(min_length=1, max_length=200)


class CampaignCreatedReply(Reply):
    campaign_id: UUID
    name: str
    created_at: datetime


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


class AddSuppression(Command):
    email: Text = Field(min_length=1, max_length=320)
    reason: Text = Field(default="", max_length=500)


class RemoveSuppression(Command):
    email: Text = Field(min_length=1, max_length=320)


class ListSuppressions(Command):
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: Text | None = None
    q: MaybeText = Field(default=None, max_length=320)


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


# --- company directory and pipeline --------------------------------------------------------------------

# A page of companies or pipeline leads travels back as one NATS message (1 MB at most by default); 200
# items of the longest values each field allows stay well below that.
SOURCE_PAGE_MAX = 200
PIPELINE_BATCH_MAX = 1000
PIPELINE_IDS_MAX = 10_000
MAX_EMPLOYEES = 10_000_000
MAX_REVENUE = 10**15


def _as_list(value: object) -> object:
    """A filter value may be one string or a list of them; blanks are dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [
            v.strip() if isinstance(v, str) else v
            for v in value
            if not (isinstance(v, str) and not v.strip())
        ]
    return value


# Exact values (as the facets list them), any of which matches.
FilterValues = Annotated[list[Text], BeforeValidator(_as_list), Field(max_length=100)]


class _RangeFilter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    size_min: int | None = Field(default=None, ge=0, le=MAX_EMPLOYEES, description="employees, at least")
    size_max: int | None = Field(default=None, ge=0, le=MAX_EMPLOYEES, description="employees, at most")
    revenue_min: int | None = Field(
        default=None, ge=0, le=MAX_REVENUE, description="yearly revenue, at least"
    )
    revenue_max: int | None = Field(default=None, ge=0, le=MAX_REVENUE, description="yearly revenue, at most")
    q: MaybeText = Field(
        default=None, max_length=200, description="free text; case- and accent-insensitive substring"
    )

    @field_validator("q", mode="before")
    @classmethod
    def _blank_q_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> _RangeFilter:
        for name in ("size", "revenue"):
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if low is not None and high is not None and low > high:
                raise ValueError(f"{name}_min ({low}) is greater than {name}_max ({high})")
        return self


class DirectoryFilter(_RangeFilter):
    """Companies matching every given criterion; the values of one list are alternatives. A size or revenue
    range matches a company whose band overlaps it; a company without a band never matches a range."""

    country: FilterValues = Field(default_factory=list)
    city: FilterValues = Field(default_factory=list)
    industry: FilterValues = Field(default_factory=list)


class PipelineFilter(_RangeFilter):
    """Pipeline leads matching every given criterion; the values of one list are alternatives. The size and
    revenue ranges are inclusive and never match a lead whose value is unknown."""

    city: FilterValues = Field(default_factory=list)
    industry: FilterValues = Field(default_factory=list)
    stage: FilterValues = Field(default_factory=list)


class DirectoryCompany(BaseModel):
    id: int
    company_name: str
    country: str | None = None
    city: str | None = None
    industry: str | None = None
    size_min: int | None = None
    size_max: int | None = Field(default=None, description="none: open-ended (e.g. 1000+)")
    revenue_min: int | None = None
    revenue_max: int | None = Field(default=None, description="none: open-ended")
    website: str | None = None
    email: str | None = None
    first_name: str | None = None


class SearchDirectory(Command):
    filter: DirectoryFilter = Field(default_factory=DirectoryFilter)
    limit: int = Field(default=50, ge=1, le=SOURCE_PAGE_MAX)
    cursor: Text | None = None


class DirectoryPage(Reply):
    items: list[DirectoryCompany] = Field(default_factory=list)
    total: int = 0
    next_cursor: str | None = None


class GetDirectoryFacets(Command):
    country: list[Text] = Field(default_factory=list, max_length=100)


class DirectoryFacets(Reply):
    countries: list[str] = Field(default_factory=list)
    cities: list[str] = Field(default_factory=list)
    industries: list[str] = Field(default_factory=list)


class StartDirectoryImport(Command):
    import_id: UUID
    campaign_id: UUID
    filter: DirectoryFilter


class PipelineLeadIn(BaseModel):
    """One lead of the workspace's CRM pipeline. Every field is optional, but a lead needs an email, a name
    or a company name. An email already in the pipeline replaces that lead's fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    email: MaybeText = Field(default=None, max_length=320)
    first_name: MaybeText = Field(default=None, max_length=100)
    last_name: MaybeText = Field(default=None, max_length=100)
    company_name: MaybeText = Field(default=None, max_length=200)
    city: MaybeText = Field(default=None, max_length=100)
    industry: MaybeText = Field(default=None, max_length=100)
    company_size: int | None = Field(default=None, ge=0, le=MAX_EMPLOYEES, description="employees")
    revenue: int | None = Field(default=None, ge=0, le=MAX_REVENUE, description="yearly revenue")
    phone: MaybeText = Field(default=None, max_length=50)
    website: MaybeText = Field(default=None, max_length=200)
    stage: MaybeText = Field(default=None, max_length=50, description="the CRM's pipeline stage")

    @field_validator("*", mode="after")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value


class PipelineLead(PipelineLeadIn):
    id: UUID
    created_at: datetime
    updated_at: datetime


class PipelineLeadItem(BaseModel):
    """A lead of a create request with its position in the caller's list, which errors refer to."""

    index: int = Field(ge=0)
    lead: PipelineLeadIn


class CreatePipelineLeads(Command):
    items: list[PipelineLeadItem] = Field(max_length=PIPELINE_BATCH_MAX)


class StoredPipelineLead(BaseModel):
    index: int
    id: UUID
    created: bool = Field(description="false: the email was already in the pipeline; its lead was updated")


class PipelineItemError(BaseModel):
    index: int
    error: str


class PipelineLeadsStored(Reply):
    stored: list[StoredPipelineLead] = Field(default_factory=list)
    errors: list[PipelineItemError] = Field(default_factory=list)


class ListPipelineLeads(Command):
    filter: PipelineFilter = Field(default_factory=PipelineFilter)
    limit: int = Field(default=50, ge=1, le=SOURCE_PAGE_MAX)
    cursor: Text | None = None


class PipelineLeadPage(Reply):
    items: list[PipelineLead] = Field(default_factory=list)
    total: int = 0
    next_cursor: str | None = None


class StartPipelineImport(Command):
    """Import the workspace's pipeline leads chosen by `ids` or by `filter` (exactly one of them)."""

    import_id: UUID
    campaign_id: UUID
    ids: list[UUID] | None = Field(default=None, min_length=1, max_length=PIPELINE_IDS_MAX)
    filter: PipelineFilter | None = None

    @model_validator(mode="after")
    def _ids_or_filter(self) -> StartPipelineImport:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give either `ids` or `filter`, not both and not neither")
        return self


class GetValidationStatus(Command):
    """The validator's view of a campaign: leads still queued for verification, and its own health."""

    campaign_id: UUID


class ValidationStatusReply(Reply):
    # Leads of the campaign waiting for a (first or later) verification pass.
    queued: int = 0
    # Of those, leads held back because the validator itself looks at fault (see `degraded`).
    held: int = 0
    # True when the validator cannot trust its own checks: SMTP probes fail across many unrelated domains
    # (port 25 blocked, the prober's IP listed), or its DNS resolver fails for well-known mail domains.
    # Verification of what that affects is paused rather than giving addresses verdicts for our own fault.
    degraded: bool = False
    # Why it is degraded, in words for a person ("DNS resolver unreachable", ...); None when not.
    reason: str | None = None


# Every reason code a verdict can carry (`LeadValidated.reason`): what a re-run may select.
VERDICT_REASONS: tuple[str, ...] = (
    "accepted",
    "invalid_syntax",
    "no_such_domain",
    "null_mx",
    "no_mail_server",
    "mailbox_not_found",
    "mailbox_full",
    "catch_all",
    "policy_block",
    "greylisted",
    "temporary_failure",
    "smtp_rejected",
    "dns_timeout",
    "dns_error",
    "mx_unreachable",
    "smtp_timeout",
)


class RerunValidation(Command):
    """Verify a campaign's verified leads again, those whose verdict has one of `reasons` (all when
    empty). Leads still queued or being verified are left alone, so a repeated request queues nothing
    twice. Each lead re-queued gets the next run number, which its new verdict carries."""

    campaign_id: UUID
    reasons: list[Text] = Field(default_factory=list, max_length=100)


def unknown_reasons(reasons: list[str]) -> str | None:
    """What is wrong with a re-run's reason codes, in words naming the valid ones; None when nothing."""
    unknown = sorted(set(reasons) - set(VERDICT_REASONS))
    if not unknown:
        return None
    return (
        f"Unknown reason code{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
        f"Valid reason codes: {', '.join(VERDICT_REASONS)}."
    )


class ValidationRerunReply(Reply):
    # Leads queued for another verification.
    queued: int = 0
