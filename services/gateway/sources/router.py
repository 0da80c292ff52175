"""Lead sources besides CSV: the company directory and the workspace's pipeline, and imports from them.

The importer owns both (its schema), so every route here is a command to it; the gateway checks the
caller's workspace and campaign first.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from pydantic import ValidationError

from contracts.commands import (
    PIPELINE_BATCH_MAX,
    CreatePipelineLeads,
    DirectoryFacets,
    DirectoryFilter,
    DirectoryPage,
    GetDirectoryFacets,
    ImportStatusReply,
    ListPipelineLeads,
    PipelineFilter,
    PipelineItemError,
    PipelineLeadIn,
    PipelineLeadItem,
    PipelineLeadPage,
    PipelineLeadsStored,
    SearchDirectory,
    StartDirectoryImport,
    StartPipelineImport,
    StoredPipelineLead,
)
from contracts.text import Text
from services.gateway.campaigns.queries import campaign_or_404
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, JSON_BODY, NO_SUCH_CAMPAIGN
from services.gateway.imports.schemas import ImportOut, import_out
from services.gateway.sources.batches import BATCH_BYTES, batches
from services.gateway.sources.schemas import (
    LEAD_LIST_SCHEMA,
    CompanyPage,
    DirectoryImportIn,
    DirectorySearchIn,
    FacetsOut,
    FreeText,
    Limit,
    PipelineImportIn,
    PipelineLeadsCreated,
    PipelinePage,
    PipelineSearchIn,
    RevenueMax,
    RevenueMin,
    SizeMax,
    SizeMin,
    Values,
    describe,
)

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)


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


@router.post(
    "/pipeline/leads",
    response_model=PipelineLeadsCreated,
    tags=["pipeline"],
    responses=JSON_BODY,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": LEAD_LIST_SCHEMA}}}
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
    for batch in batches(valid, BATCH_BYTES):
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
