"""The directory and the pipeline as the API takes and answers them: filters as query parameters, pages,
and the bodies of searches and imports."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from contracts.commands import (
    MAX_EMPLOYEES,
    MAX_REVENUE,
    PIPELINE_BATCH_MAX,
    PIPELINE_IDS_MAX,
    SOURCE_PAGE_MAX,
    DirectoryCompany,
    DirectoryFilter,
    PipelineFilter,
    PipelineItemError,
    PipelineLead,
    PipelineLeadIn,
    StoredPipelineLead,
)
from contracts.text import SAFE_TEXT, Text

Values = Annotated[
    list[Text] | None, Query(description="exact value, as the facets list it; repeat for any of several")
]
SizeMin = Annotated[int | None, Query(ge=0, le=MAX_EMPLOYEES, description="employees, at least")]
SizeMax = Annotated[int | None, Query(ge=0, le=MAX_EMPLOYEES, description="employees, at most")]
RevenueMin = Annotated[int | None, Query(ge=0, le=MAX_REVENUE, description="yearly revenue, at least")]
RevenueMax = Annotated[int | None, Query(ge=0, le=MAX_REVENUE, description="yearly revenue, at most")]
FreeText = Annotated[
    Annotated[str, StringConstraints(max_length=200), SAFE_TEXT] | None,
    Query(description="free text, case- and accent-insensitive: 'novak' finds Novák"),
]
Limit = Annotated[int, Query(ge=1, le=SOURCE_PAGE_MAX)]


def describe(exc: ValidationError) -> str:
    """A validation error as one sentence-like line: `field: problem; …`."""
    parts = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


class CompanyPage(BaseModel):
    items: list[DirectoryCompany]
    total: int = Field(description="how many companies match the filter (all pages)")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class FacetsOut(BaseModel):
    countries: list[str]
    cities: list[str] = Field(description="of the requested countries, or of all")
    industries: list[str]


class DirectorySearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: DirectoryFilter = Field(
        default_factory=DirectoryFilter,
        description="exactly what `POST /campaigns/{id}/imports/directory` takes as `filter`",
    )
    limit: int = Field(default=50, ge=1, le=SOURCE_PAGE_MAX)
    cursor: Text | None = Field(default=None, description="the previous page's `next_cursor`")


class DirectoryImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: DirectoryFilter = Field(
        default_factory=DirectoryFilter,
        description="the same keys as the search; a single value may be given as a string",
    )


class PipelineLeadsCreated(BaseModel):
    created: int
    updated: int = Field(description="items whose email was already in the pipeline: that lead was updated")
    stored: list[StoredPipelineLead] = Field(description="by index in the request")
    errors: list[PipelineItemError] = Field(description="items not stored, by index, with the reason")


class PipelinePage(BaseModel):
    items: list[PipelineLead]
    total: int = Field(description="how many leads match the filter (all pages)")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


LEAD_LIST_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": PIPELINE_BATCH_MAX,
    "items": PipelineLeadIn.model_json_schema(),
}


class PipelineSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: PipelineFilter = Field(
        default_factory=PipelineFilter,
        description="exactly what `POST /campaigns/{id}/imports/pipeline` takes as `filter`",
    )
    limit: int = Field(default=50, ge=1, le=SOURCE_PAGE_MAX)
    cursor: Text | None = Field(default=None, description="the previous page's `next_cursor`")


class PipelineImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[UUID] | None = Field(
        default=None, min_length=1, max_length=PIPELINE_IDS_MAX, description="pipeline lead ids"
    )
    filter: PipelineFilter | None = Field(default=None, description="the same keys as the pipeline list")

    @model_validator(mode="after")
    def _ids_or_filter(self) -> PipelineImportIn:
        if (self.ids is None) == (self.filter is None):
            raise ValueError('send either {"ids": [...]} or {"filter": {...}}')
        return self
