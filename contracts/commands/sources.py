"""Commands to the importer about lead sources: the company directory and the workspace's CRM pipeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from contracts.commands.base import Command
from contracts.replies import Reply
from contracts.text import MaybeText, Text

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
