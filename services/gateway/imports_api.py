"""Imports: preview, CSV upload, state, live progress (SSE), cancellation and the rejected-rows report."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, File, Form, Header, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import StreamingResponse
from nats.aio.msg import Msg
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from contracts import (
    IMPORT_END_STATES,
    AnyEvent,
    ImportCompleted,
    ImportProgress,
    ImportState,
    parse_event,
    subjects,
)
from contracts.commands import (
    IMPORT_PAGE_MAX,
    LEAD_FIELDS,
    PREVIEW_BYTES,
    PREVIEW_ROWS,
    CancelImport,
    GetImport,
    ImportPage,
    ImportStatusReply,
    ListCampaignImports,
    PreviewCsv,
    PreviewReply,
    StartCsvImport,
)
from contracts.text import Text, check_text
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
from services.runtime.service import Service
from services.runtime.streams import UPLOADS_BUCKET

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)
UPLOAD_TOO_LARGE = problem("The file is larger than `LEADFLOW_IMPORT_MAX_BYTES` (200 MB by default).")


# --- imports ---------------------------------------------------------------------------------------------


class ImportOut(BaseModel):
    id: UUID
    campaign_id: UUID
    source: str | None = None
    state: str
    error: str | None = None
    percent: float
    rows_done: int
    total_rows: int | None = None
    counts: dict[str, int]
    cancel_requested: bool = False
    filename: str | None = None
    report_url: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


def import_out(reply: ImportStatusReply) -> ImportOut:
    return ImportOut(
        id=reply.id,
        campaign_id=reply.campaign_id,
        source=reply.source,
        state=reply.state,
        error=reply.error,
        percent=reply.percent,
        rows_done=reply.rows_done,
        total_rows=reply.total_rows,
        counts=reply.counts,
        cancel_requested=reply.cancel_requested,
        filename=reply.filename,
        report_url=f"/api/v1/imports/{reply.id}/report.csv" if reply.report_object else None,
        created_at=reply.created_at,
        finished_at=reply.finished_at,
    )


class ImportHistory(BaseModel):
    items: list[ImportOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


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


def parse_mapping(raw: str) -> dict[str, str]:
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"`mapping` is not valid JSON: {exc.msg}.") from exc
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise HTTPException(
            422, '`mapping` must be a JSON object of field → column, e.g. {"email": "E-mail"}.'
        )
    for field, column in mapping.items():
        try:
            check_text(field)
        except ValueError as exc:
            raise HTTPException(422, f"`mapping`: a field name {exc}.") from exc
        try:
            check_text(column)
        except ValueError as exc:
            raise HTTPException(422, f"`mapping`: the column for `{field}` {exc}.") from exc
    unknown = sorted(set(mapping) - set(LEAD_FIELDS))
    if unknown:
        raise HTTPException(
            422,
            f"Unknown field(s) in `mapping`: {', '.join(unknown)}. Known fields: {', '.join(LEAD_FIELDS)}.",
        )
    if not mapping.get("email"):
        raise HTTPException(
            422, "No column is mapped to `email`; map the column that holds the email address."
        )
    return {k: v for k, v in mapping.items() if v}


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


FILENAME_MAX = 500


def upload_filename(file: UploadFile) -> str:
    """The uploaded file's name as the client gave it ("" for none), checked as any other text is."""
    name = file.filename or ""
    try:
        check_text(name)
    except ValueError as exc:
        raise HTTPException(422, f"The file's name {exc}.") from exc
    if len(name) > FILENAME_MAX:
        raise HTTPException(
            422, f"The file's name is {len(name):,} characters; at most {FILENAME_MAX} are kept."
        )
    return name


def checked_size(file: UploadFile, limit: int) -> int:
    if file.size is not None:
        size = file.size
    else:
        file.file.seek(0, 2)
        size = file.file.tell()
        file.file.seek(0)
    if size == 0:
        raise HTTPException(422, "The file is empty.")
    if size > limit:
        raise HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            f"The file is {size:,} bytes; the limit is {limit:,} bytes.",
        )
    return size


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


async def import_status(service: Service, workspace_id: UUID, import_id: UUID) -> ImportStatusReply:
    """The import's state; CommandRefused (a 404) for an unknown import or another workspace's."""
    return await ask(
        service,
        "get_import",
        "importer",
        GetImport(workspace_id=workspace_id, import_id=import_id),
        ImportStatusReply,
    )


class PreviewOut(BaseModel):
    encoding: str = Field(description="Python codec name: utf-8, utf-8-sig, utf-16, cp1250, iso8859-2")
    delimiter: str
    headers: list[str]
    rows: list[list[str]] = Field(description=f"The first {PREVIEW_ROWS} data rows, aligned with `headers`")
    suggested_mapping: dict[str, str] = Field(description="Our field name → the header that holds it")


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


RESYNC_SECONDS = 5.0


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
    return EventSourceResponse(_progress_stream(service, workspace_id, import_id, last_event_id), ping=15)


async def _progress_stream(
    service: Service, workspace_id: UUID, import_id: UUID, last_event_id: str | None
) -> AsyncIterator[dict[str, str]]:
    seen = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1
    inbox: asyncio.Queue[AnyEvent] = asyncio.Queue()

    async def collect(msg: Msg) -> None:
        event = parse_event(msg.data)
        if not isinstance(event, ImportCompleted) or event.import_id == import_id:
            inbox.put_nowait(event)

    nc = service.broker.connection
    # Subscribe before reading the state, so nothing that happens in between is missed.
    subscriptions = [
        await nc.subscribe(subjects.import_progress_subject(import_id), cb=collect),
        await nc.subscribe(subjects.event_subject(workspace_id, "import_completed"), cb=collect),
    ]
    # The importer's first progress brings the total, counted before any row is stored; an event that only
    # brings the total is sent too, so a client can say "of N" from the start. Nothing is sent for the
    # state before that (no rows, no total): the client knows the import is running.
    sent: tuple[int, int | None] = (seen, None)

    def news(rows_done: int, total_rows: int | None) -> bool:
        return (
            (rows_done, total_rows) != sent and rows_done >= sent[0] and (rows_done, total_rows) != (0, None)
        )

    try:
        while True:
            current = await import_status(service, workspace_id, import_id)
            if current.state in IMPORT_END_STATES:
                yield _final(current)
                return
            if news(current.rows_done, current.total_rows):
                sent = (current.rows_done, current.total_rows)
                yield _progress(current.percent, current.rows_done, current.total_rows, current.counts)
            while True:
                try:
                    event = await asyncio.wait_for(inbox.get(), RESYNC_SECONDS)
                except TimeoutError:
                    break  # quiet for a while: re-read the state (the importer may have restarted)
                if isinstance(event, ImportCompleted):
                    break  # the final state and breakdown come from the importer's record
                if isinstance(event, ImportProgress) and news(event.rows_done, event.total_rows):
                    total = event.total_rows if event.total_rows is not None else sent[1]
                    sent = (event.rows_done, total)
                    yield _progress(event.percent, event.rows_done, total, event.counts)
    finally:
        for subscription in subscriptions:
            await subscription.unsubscribe()


def _progress(
    percent: float, rows_done: int, total_rows: int | None, counts: dict[str, int]
) -> dict[str, str]:
    data = {
        "state": ImportState.RUNNING.value,
        "percent": percent,
        "rows_done": rows_done,
        "total_rows": total_rows,
        "counts": counts,
    }
    return {"event": "progress", "id": str(rows_done), "data": json.dumps(data)}


def _final(reply: ImportStatusReply) -> dict[str, str]:
    return {
        "event": reply.state.value,
        "id": "final",
        "data": import_out(reply).model_dump_json(),
    }


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
