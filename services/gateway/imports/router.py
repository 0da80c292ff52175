"""Imports: preview, CSV upload, state, live progress (SSE), cancellation and the rejected-rows report."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, File, Form, Header, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import StreamingResponse
from sse_starlette import EventSourceResponse

from contracts import ImportState
from contracts.commands import (
    IMPORT_PAGE_MAX,
    PREVIEW_BYTES,
    CancelImport,
    GetImport,
    ImportPage,
    ImportStatusReply,
    ListCampaignImports,
    PreviewCsv,
    PreviewReply,
    StartCsvImport,
)
from contracts.text import Text
from services.gateway.campaigns.queries import campaign_or_404
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import (
    API_RESPONSES,
    CROSS_SITE,
    MULTIPART_BODY,
    NO_SUCH_CAMPAIGN,
    NO_SUCH_IMPORT,
    CommandRefused,
    invalid,
    problem,
)
from services.gateway.imports.progress import import_status, progress_stream
from services.gateway.imports.schemas import ImportHistory, ImportOut, PreviewOut, import_out
from services.gateway.imports.uploads import checked_size, parse_mapping, upload_filename
from services.runtime.streams import UPLOADS_BUCKET

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)
UPLOAD_TOO_LARGE = problem("The file is larger than `LEADFLOW_IMPORT_MAX_BYTES` (200 MB by default).")


@router.get(
    "/campaigns/{campaign_id}/imports",
    response_model=ImportHistory,
    tags=["imports"],
    responses={
        **NO_SUCH_CAMPAIGN,
        422: invalid("A `cursor` this API did not return, or a bad `limit`."),
    },
)
async def list_campaign_imports(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=IMPORT_PAGE_MAX)] = 20,
    cursor: Annotated[Text | None, Query(description="`next_cursor` of the previous page")] = None,
) -> ImportHistory:
    """The campaign's imports (CSV, directory, pipeline), newest first, each as `GET /api/v1/imports/{id}`
    gives it: state, progress, breakdown and, once finished, the `report_url` of its rejected rows.
    `source` says where the rows came from; `filename` is the uploaded file's name, or for the directory
    and the pipeline a label made from the filter ("Directory: Praha, IT services")."""
    await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()
    reply = await ask(
        service_of(request),
        "list_campaign_imports",
        "importer",
        ListCampaignImports(workspace_id=workspace_id, campaign_id=campaign_id, limit=limit, cursor=cursor),
        ImportPage,
    )
    return ImportHistory(items=[import_out(item) for item in reply.items], next_cursor=reply.next_cursor)


@router.post(
    "/campaigns/{campaign_id}/imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportOut,
    tags=["imports"],
    responses={**NO_SUCH_CAMPAIGN, **MULTIPART_BODY, 413: UPLOAD_TOO_LARGE},
)
async def start_import(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    file: Annotated[UploadFile, File(description="The CSV file")],
    mapping: Annotated[
        Text, Form(description='JSON: our field → the CSV\'s header, e.g. {"email": "E-mail"}')
    ],
) -> ImportOut:
    await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()
    fields = parse_mapping(mapping)
    filename = upload_filename(file)
    service = service_of(request)
    size = checked_size(file, service.settings.import_max_bytes)
    import_id = uuid4()
    object_name = str(import_id)
    store = await service.js.object_store(UPLOADS_BUCKET)
    await file.seek(0)
    await store.put(object_name, file.file)  # type: ignore[arg-type]
    command = StartCsvImport(
        workspace_id=workspace_id,
        import_id=import_id,
        campaign_id=campaign_id,
        object_name=object_name,
        filename=filename,
        total_bytes=size,
        mapping=fields,
    )
    try:
        reply = await ask(service, "start_import", "importer", command, ImportStatusReply)
    except CommandRefused:  # the import will not run: its upload is of no use
        await store.delete(object_name)
        raise
    return import_out(reply)


@router.get("/imports/{import_id}", response_model=ImportOut, tags=["imports"], responses=NO_SUCH_IMPORT)
async def get_import(import_id: UUID, workspace_id: Workspace, request: Request) -> ImportOut:
    reply = await ask(
        service_of(request),
        "get_import",
        "importer",
        GetImport(workspace_id=workspace_id, import_id=import_id),
        ImportStatusReply,
    )
    return import_out(reply)


@router.post(
    "/imports/preview",
    response_model=PreviewOut,
    tags=["imports"],
    responses={**MULTIPART_BODY, 413: UPLOAD_TOO_LARGE},
)
async def preview_import(
    workspace_id: Workspace,
    request: Request,
    file: Annotated[UploadFile, File(description="The CSV file, or at least its beginning")],
) -> PreviewOut:
    """Detect the encoding, delimiter and header row, show the first rows and suggest a column mapping."""
    service = service_of(request)
    checked_size(file, service.settings.import_max_bytes)
    await file.seek(0)
    sample = await file.read(PREVIEW_BYTES + 1)
    reply = await ask(
        service,
        "preview",
        "importer",
        PreviewCsv.of(workspace_id, sample[:PREVIEW_BYTES], truncated=len(sample) > PREVIEW_BYTES),
        PreviewReply,
    )
    return PreviewOut(
        encoding=reply.encoding,
        delimiter=reply.delimiter,
        headers=reply.headers,
        rows=reply.rows,
        suggested_mapping=reply.suggested_mapping,
    )


@router.post(
    "/imports/{import_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportOut,
    tags=["imports"],
    responses={**NO_SUCH_IMPORT, **CROSS_SITE},
)
async def cancel_import(import_id: UUID, workspace_id: Workspace, request: Request) -> ImportOut:
    """Stop the import after its current chunk. Leads imported so far stay in the campaign."""
    reply = await ask(
        service_of(request),
        "cancel_import",
        "importer",
        CancelImport(workspace_id=workspace_id, import_id=import_id),
        ImportStatusReply,
    )
    return import_out(reply)


@router.get(
    "/imports/{import_id}/events",
    tags=["imports"],
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
        **NO_SUCH_IMPORT,
    },
)
async def import_events(
    import_id: UUID,
    workspace_id: Workspace,
    request: Request,
    last_event_id: Annotated[Text | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Live progress: `progress` events (id = rows done) with percent and counters, then one final event
    named after the end state (`completed`, `failed` or `cancelled`, id `final`) carrying the import with
    its breakdown, and the stream ends. Reconnecting with `Last-Event-ID` skips what was already seen."""
    service = service_of(request)
    await import_status(service, workspace_id, import_id)
    return EventSourceResponse(progress_stream(service, workspace_id, import_id, last_event_id), ping=15)


@router.get(
    "/imports/{import_id}/report.csv",
    tags=["imports"],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "Every row not imported"},
        **NO_SUCH_IMPORT,
        409: problem("The import is still running."),
    },
)
async def import_report(import_id: UUID, workspace_id: Workspace, request: Request) -> StreamingResponse:
    """Every row that was not imported: row number, value, outcome and reason. Cells a spreadsheet would
    read as a formula are prefixed with a quote."""
    service = service_of(request)
    reply = await import_status(service, workspace_id, import_id)
    if reply.state == ImportState.RUNNING or not reply.report_object:
        raise HTTPException(status.HTTP_409_CONFLICT, "The report is ready when the import has finished.")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the response's iterator)
    store = await service.js.object_store(UPLOADS_BUCKET)
    await store.get(reply.report_object, writeinto=spool)
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while block := spool.read(64 * 1024):
                yield block

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-report.csv"'},
    )
