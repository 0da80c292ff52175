"""Lead sources besides CSV: the company directory and the workspace's pipeline, and imports from them.

The importer owns both (its schema), so every route here is a command to it; the gateway checks the
caller's workspace and campaign first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from contracts.commands import (
    MAX_EMPLOYEES,
    MAX_REVENUE,
    PIPELINE_BATCH_MAX,
    PIPELINE_IDS_MAX,
    SOURCE_PAGE_MAX,
    CreatePipelineLeads,
    DirectoryCompany,
    DirectoryFacets,
    DirectoryFilter,
    DirectoryPage,
    GetDirectoryFacets,
    ImportStatusReply,
    ListPipelineLeads,
    PipelineFilter,
    PipelineItemError,
    PipelineLead,
    PipelineLeadIn,
    PipelineLeadItem,
    PipelineLeadPage,
    PipelineLeadsStored,
    SearchDirectory,
    StartDirectoryImport,
    StartPipelineImport,
    StoredPipelineLead,
)
from contracts.text import SAFE_TEXT, Text
from services.gateway.campaigns.queries import campaign_or_404
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, JSON_BODY, NO_SUCH_CAMPAIGN
from services.gateway.imports_api import ImportOut, import_out

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)

# Each create command is one NATS message (1 MB by default); leads are sent in batches well below that.
BATCH_BYTES = 256 * 1024

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


async def _company_page(request: Request, command: SearchDirectory) -> CompanyPage:
    reply = await ask(service_of(request), "search_directory", "importer", command, DirectoryPage)
    return CompanyPage(items=reply.items, total=reply.total, next_cursor=reply.next_cursor)


@router.get("/directory/companies", response_model=CompanyPage, tags=["directory"])
async def search_directory(
    workspace_id: Workspace,
    request: Request,
    country: Values = None,
    city: Values = None,
    industry: Values = None,
    size_min: SizeMin = None,
    size_max: SizeMax = None,
    revenue_min: RevenueMin = None,
    revenue_max: RevenueMax = None,
    q: FreeText = None,
    limit: Limit = 50,
    cursor: Annotated[Text | None, Query(description="the previous page's `next_cursor`")] = None,
) -> CompanyPage:
    """Companies of the directory matching every given filter, in a stable order, with the match count.

    The directory is reference data shared by the installation; a size or revenue range matches a
    company whose band overlaps it; `city` ignores case and accents (`plzen` finds Plzeň). Free text
    searches company name, website and email."""
    try:
        criteria = DirectoryFilter(
            country=country or [],
            city=city or [],
            industry=industry or [],
            size_min=size_min,
            size_max=size_max,
            revenue_min=revenue_min,
            revenue_max=revenue_max,
            q=q,
        )
    except ValidationError as exc:
        raise HTTPException(422, describe(exc)) from exc
    return await _company_page(
        request, SearchDirectory(workspace_id=workspace_id, filter=criteria, limit=limit, cursor=cursor)
    )


class DirectorySearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: DirectoryFilter = Field(
        default_factory=DirectoryFilter,
        description="exactly what `POST /campaigns/{id}/imports/directory` takes as `filter`",
    )
    limit: int = Field(default=50, ge=1, le=SOURCE_PAGE_MAX)
    cursor: Text | None = Field(default=None, description="the previous page's `next_cursor`")


@router.post(
    "/directory/companies/search", response_model=CompanyPage, tags=["directory"], responses=JSON_BODY
)
async def preview_directory_import(
    body: DirectorySearchIn, workspace_id: Workspace, request: Request
) -> CompanyPage:
    """The companies an "add to campaign" with this `filter` would import, and how many (`total`): the
    same filter object as the import's, the same SQL, so the count is the number of rows it will read."""
    return await _company_page(
        request,
        SearchDirectory(workspace_id=workspace_id, filter=body.filter, limit=body.limit, cursor=body.cursor),
    )


@router.get("/directory/facets", response_model=FacetsOut, tags=["directory"])
async def directory_facets(workspace_id: Workspace, request: Request, country: Values = None) -> FacetsOut:
    """The distinct values for the filter dropdowns; `country` narrows the cities to those countries."""
    try:
        command = GetDirectoryFacets(workspace_id=workspace_id, country=country or [])
    except ValidationError as exc:
        raise HTTPException(422, describe(exc)) from exc
    reply = await ask(service_of(request), "directory_facets", "importer", command, DirectoryFacets)
    return FacetsOut(countries=reply.countries, cities=reply.cities, industries=reply.industries)


class DirectoryImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: DirectoryFilter = Field(
        default_factory=DirectoryFilter,
        description="the same keys as the search; a single value may be given as a string",
    )


@router.post(
    "/campaigns/{campaign_id}/imports/directory",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportOut,
    tags=["imports", "directory"],
    responses={**NO_SUCH_CAMPAIGN, **JSON_BODY},
)
async def import_from_directory(
    campaign_id: UUID, body: DirectoryImportIn, workspace_id: Workspace, session: Session, request: Request
) -> ImportOut:
    """Add every company matching the filter to the campaign as a lead (not only the page shown). It runs
    as an import: same breakdown, progress events, report and cancel as a CSV import. A company without
    an email counts as `missing_email`."""
    await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()
    reply: ImportStatusReply = await ask(
        service_of(request),
        "start_directory_import",
        "importer",
        StartDirectoryImport(
            workspace_id=workspace_id, import_id=uuid4(), campaign_id=campaign_id, filter=body.filter
        ),
        ImportStatusReply,
    )
    return import_out(reply)


class PipelineLeadsCreated(BaseModel):
    created: int
    updated: int = Field(description="items whose email was already in the pipeline: that lead was updated")
    stored: list[StoredPipelineLead] = Field(description="by index in the request")
    errors: list[PipelineItemError] = Field(description="items not stored, by index, with the reason")


class PipelinePage(BaseModel):
    items: list[PipelineLead]
    total: int = Field(description="how many leads match the filter (all pages)")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


_LEAD_LIST_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": PIPELINE_BATCH_MAX,
    "items": PipelineLeadIn.model_json_schema(),
}


@router.post(
    "/pipeline/leads",
    response_model=PipelineLeadsCreated,
    tags=["pipeline"],
    responses=JSON_BODY,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _LEAD_LIST_SCHEMA}}}
    },
)
async def create_pipeline_leads(
    workspace_id: Workspace, request: Request, items: Annotated[list[Any], Body()]
) -> PipelineLeadsCreated:
    """Store up to 1,000 pipeline leads. Each item is checked on its own: the valid ones are stored, the
    others are reported in `errors` by their index in the list. An email already in the workspace's
    pipeline updates that lead (same id) instead of adding another."""
    if not items:
        raise HTTPException(422, "Send a JSON list of at least one lead.")
    if len(items) > PIPELINE_BATCH_MAX:
        raise HTTPException(
            422,
            f"{len(items):,} leads in one request; at most {PIPELINE_BATCH_MAX:,} are accepted. Split the list.",
        )
    errors: list[PipelineItemError] = []
    valid: list[PipelineLeadItem] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(PipelineItemError(index=index, error="a lead is a JSON object"))
            continue
        try:
            valid.append(PipelineLeadItem(index=index, lead=PipelineLeadIn.model_validate(item)))
        except ValidationError as exc:
            errors.append(PipelineItemError(index=index, error=describe(exc)))
    stored: list[StoredPipelineLead] = []
    service = service_of(request)
    for batch in _batches(valid, BATCH_BYTES):
        reply = await ask(
            service,
            "create_pipeline_leads",
            "importer",
            CreatePipelineLeads(workspace_id=workspace_id, items=batch),
            PipelineLeadsStored,
        )
        stored += reply.stored
        errors += reply.errors
    created = sum(s.created for s in stored)
    return PipelineLeadsCreated(
        created=created,
        updated=len(stored) - created,
        stored=sorted(stored, key=lambda s: s.index),
        errors=sorted(errors, key=lambda e: e.index),
    )


def _batches(items: list[PipelineLeadItem], max_bytes: int) -> Iterator[list[PipelineLeadItem]]:
    batch: list[PipelineLeadItem] = []
    size = 0
    for item in items:
        # json.dumps escapes non-ASCII, so this is an upper bound of the item's size on the wire.
        item_size = len(json.dumps(item.model_dump(mode="json"))) + 2
        if batch and size + item_size > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


async def _pipeline_page(request: Request, command: ListPipelineLeads) -> PipelinePage:
    reply = await ask(service_of(request), "list_pipeline_leads", "importer", command, PipelineLeadPage)
    return PipelinePage(items=reply.items, total=reply.total, next_cursor=reply.next_cursor)


@router.get("/pipeline/leads", response_model=PipelinePage, tags=["pipeline"])
async def list_pipeline_leads(
    workspace_id: Workspace,
    request: Request,
    city: Values = None,
    industry: Values = None,
    stage: Values = None,
    size_min: SizeMin = None,
    size_max: SizeMax = None,
    revenue_min: RevenueMin = None,
    revenue_max: RevenueMax = None,
    q: FreeText = None,
    limit: Limit = 50,
    cursor: Annotated[Text | None, Query(description="the previous page's `next_cursor`")] = None,
) -> PipelinePage:
    """The workspace's pipeline leads matching every given filter, oldest first, with the match count.
    Size and revenue ranges are inclusive; `city` ignores case and accents (`plzen` finds Plzeň); free text
    searches email, names, company name and website."""
    try:
        criteria = PipelineFilter(
            city=city or [],
            industry=industry or [],
            stage=stage or [],
            size_min=size_min,
            size_max=size_max,
            revenue_min=revenue_min,
            revenue_max=revenue_max,
            q=q,
        )
    except ValidationError as exc:
        raise HTTPException(422, describe(exc)) from exc
    return await _pipeline_page(
        request, ListPipelineLeads(workspace_id=workspace_id, filter=criteria, limit=limit, cursor=cursor)
    )


class PipelineSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: PipelineFilter = Field(
        default_factory=PipelineFilter,
        description="exactly what `POST /campaigns/{id}/imports/pipeline` takes as `filter`",
    )
    limit: int = Field(default=50, ge=1, le=SOURCE_PAGE_MAX)
    cursor: Text | None = Field(default=None, description="the previous page's `next_cursor`")


@router.post("/pipeline/leads/search", response_model=PipelinePage, tags=["pipeline"], responses=JSON_BODY)
async def preview_pipeline_import(
    body: PipelineSearchIn, workspace_id: Workspace, request: Request
) -> PipelinePage:
    """The pipeline leads an import with this `filter` would read, and how many (`total`)."""
    return await _pipeline_page(
        request,
        ListPipelineLeads(
            workspace_id=workspace_id, filter=body.filter, limit=body.limit, cursor=body.cursor
        ),
    )


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


@router.post(
    "/campaigns/{campaign_id}/imports/pipeline",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportOut,
    tags=["imports", "pipeline"],
    responses={**NO_SUCH_CAMPAIGN, **JSON_BODY},
)
async def import_from_pipeline(
    campaign_id: UUID, body: PipelineImportIn, workspace_id: Workspace, session: Session, request: Request
) -> ImportOut:
    """Add pipeline leads to the campaign, chosen by id or by filter, as an import (same breakdown,
    progress, report and cancel as a CSV import). Ids that are not this workspace's leads match nothing."""
    await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()
    reply: ImportStatusReply = await ask(
        service_of(request),
        "start_pipeline_import",
        "importer",
        StartPipelineImport(
            workspace_id=workspace_id,
            import_id=uuid4(),
            campaign_id=campaign_id,
            ids=body.ids,
            filter=body.filter,
        ),
        ImportStatusReply,
    )
    return import_out(reply)
