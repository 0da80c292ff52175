"""A campaign's leads: the list's pages, one lead with its timeline, the CSV export and the live changes."""

from __future__ import annotations

import asyncio
from typing import Annotated
from uuid import UUID

import psycopg
import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError
from sse_starlette import EventSourceResponse

from contracts.text import Text
from services.gateway.campaigns.queries import campaign_or_404
from services.gateway.deps import Session, Workspace, service_of
from services.gateway.errors import API_RESPONSES, NO_SUCH_CAMPAIGN, invalid, problem
from services.gateway.leads.export import content_disposition, export_rows, first_then_rest
from services.gateway.leads.keyset import (
    DEFAULT_SORT,
    Keyset,
    LeadSort,
    decode_page_cursor,
    encode_page_cursor,
    in_arrival_order,
    sort_value,
)
from services.gateway.leads.live import LISTEN_READY_SECONDS, change_stream, lead_change_hub
from services.gateway.leads.queries import (
    count_leads,
    lead_of_workspace,
    page_conditions,
    page_rows,
    timeline_of,
)
from services.gateway.leads.schemas import (
    LeadDetail,
    LeadFilter,
    LeadOut,
    LeadPage,
    TimelineEntry,
    lead_filter_params,
)
from services.gateway.projection.imports import arriving_leads
from services.gateway.sse_backlog import SEND_TIMEOUT_SECONDS
from services.runtime.cursors import InvalidCursor

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)


@router.get(
    "/campaigns/{campaign_id}/leads",
    response_model=LeadPage,
    tags=["leads"],
    responses={
        **NO_SUCH_CAMPAIGN,
        422: invalid("An invalid parameter, `sort`, or a `cursor` not returned for this `sort`."),
    },
)
async def list_leads(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    lead_filter: Annotated[LeadFilter, Depends(lead_filter_params)],
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Page size; the web UI offers 25, 50 and 100.")
    ] = 50,
    cursor: Annotated[
        Text | None, Query(description="`next_cursor` of the previous page (same `sort` and filter).")
    ] = None,
    sort: Annotated[
        LeadSort | None,
        Query(
            description="`last_activity`, `company`, `name` (surname, then first name), `email` or "
            "`status`; a leading `-` sorts descending. Company and name sort in Czech alphabetical order "
            "(č after c, ch after h). Leads without a company, name or activity come last either way; ties "
            "go by arrival. Default: `-last_activity`, the most recent activity first."
        ),
    ] = None,
) -> LeadPage:
    """A page of a campaign's leads, with the total for the filter.

    Paging is by keyset, never OFFSET: the cursor holds the last row's (sort value, arrival seq), so a deep
    page costs what the first does, and leads added while a client pages never shift or repeat the rows
    of later pages.
    """
    await campaign_or_404(session, workspace_id, campaign_id)
    if sort is None and not (cursor and in_arrival_order(cursor)):
        sort = DEFAULT_SORT
    try:
        after = decode_page_cursor(cursor, sort) if cursor else None
    except InvalidCursor as exc:
        raise HTTPException(422, str(exc)) from exc
    total = await count_leads(session, workspace_id, campaign_id, lead_filter)
    filters = page_conditions(workspace_id, campaign_id, lead_filter, total)
    rows = await page_rows(session, filters, sort, after, limit + 1)
    items = [LeadOut.model_validate(row, from_attributes=True) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_page_cursor(sort, Keyset(sort_value(sort, last), last.seq))
    arriving = await arriving_leads(session, workspace_id, [campaign_id])
    return LeadPage(
        items=items,
        total=total.value,
        total_is_estimate=total.is_estimate,
        next_cursor=next_cursor,
        arriving=arriving.get(campaign_id, 0),
    )


@router.get(
    "/leads/{lead_id}",
    response_model=LeadDetail,
    tags=["leads"],
    responses={404: problem("No such lead in this workspace.")},
)
async def get_lead(lead_id: UUID, workspace_id: Workspace, session: Session) -> LeadDetail:
    row = await lead_of_workspace(session, workspace_id, lead_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such lead.")
    events = await timeline_of(session, workspace_id, lead_id)
    timeline = [
        TimelineEntry(at=at, type=kind, source=source, summary=data) for at, kind, source, data in events
    ]
    return LeadDetail.model_validate({**row._mapping, "timeline": timeline})


@router.get(
    "/campaigns/{campaign_id}/leads/export.csv",
    tags=["leads"],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "Every lead matching the filter"},
        **NO_SUCH_CAMPAIGN,
        503: problem("The leads could not be read (the database failed or went away); retry shortly."),
    },
)
async def export_leads(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    filter_: Annotated[LeadFilter, Depends(lead_filter_params)],
) -> StreamingResponse:
    """Every lead of the campaign that the list would show with the same `status`, `validation`, `q` and
    `import_id`, as a UTF-8 CSV (with BOM, for Excel) in list order.

    Columns: the lead's fields, status, step, validation and times, then one column per custom key found
    among the exported leads (sorted; named after the key, `custom.<key>` if it repeats a standard column).
    Cells a spreadsheet would read as a formula (starting with = + - @ tab or CR) are prefixed with `'`.

    The status is only sent once the export's queries have run, so a failure there is a 503. One later
    (the database going away mid-download) breaks the download off without its end: a client sees an
    error, never a short file that looks complete.
    """
    campaign = await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()  # the export reads on its own connection, for as long as the download takes
    rows = export_rows(service_of(request), workspace_id, campaign_id, filter_)
    try:
        first = await anext(rows)
    except (SQLAlchemyError, psycopg.Error) as exc:
        await rows.aclose()
        log.warning("lead export failed", campaign_id=str(campaign_id), error=type(exc).__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The leads could not be read; try the export again shortly."
        ) from None
    return StreamingResponse(
        first_then_rest(first, rows, campaign_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition(campaign.name)},
    )


@router.get(
    "/campaigns/{campaign_id}/leads/events",
    tags=["leads"],
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
        **NO_SUCH_CAMPAIGN,
        503: problem("Live updates are unavailable right now; retry."),
    },
)
async def lead_events_stream(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    last_event_id: Annotated[Text | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Live changes to the campaign's leads, so an open table updates without reloading.

    The first event is `ready` (or `resync` when reconnecting with `Last-Event-ID`): from then on every
    change is sent, so load (or reload) the table on it. Then `leads_added` (an import batch landed:
    `count` and `import_id`), `import_finished` (an import completed: `count` leads imported, `import_id`;
    those not listed yet are the list's `arriving`) and `lead_changed` (`lead_ids` whose row changed), each
    with data
    `{"type", "lead_ids", "count", "event_type", "at"}`. `resync` means changes were dropped (a slow
    client, or the server's listener reconnected): reload the table. A `: ping` comment comes every 15 s.
    """
    await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()  # a stream can stay open for hours: it must not hold a pooled connection
    hub = lead_change_hub(request)
    try:
        await asyncio.wait_for(hub.listening.wait(), LISTEN_READY_SECONDS)
    except TimeoutError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "Live updates are unavailable right now; try again shortly."
        ) from exc
    return EventSourceResponse(
        change_stream(hub, workspace_id, campaign_id, reconnected=last_event_id is not None),
        ping=15,
        send_timeout=SEND_TIMEOUT_SECONDS,
    )
