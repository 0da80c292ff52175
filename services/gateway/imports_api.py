"""Imports: preview, CSV upload, state, live progress (SSE), cancellation and the rejected-rows report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile, status
from pydantic import BaseModel

from contracts.commands import (
    LEAD_FIELDS,
    GetImport,
    ImportStatusReply,
    StartCsvImport,
)
from services.gateway.campaigns_api import campaign_or_404
from services.gateway.deps import Session, Workspace, ask, service_of
from services.runtime.streams import UPLOADS_BUCKET

router = APIRouter(prefix="/api/v1")


# --- imports ---------------------------------------------------------------------------------------------


class ImportOut(BaseModel):
    id: UUID
    campaign_id: UUID
    state: str
    error: str | None = None
    percent: float
    rows_done: int
    counts: dict[str, int]
    filename: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


def import_out(reply: ImportStatusReply) -> ImportOut:
    if (
        reply.error_code == "not_found"
        or reply.id is None
        or reply.campaign_id is None
        or reply.state is None
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, reply.error or "No such import.")
    return ImportOut(
        id=reply.id,
        campaign_id=reply.campaign_id,
        state=reply.state,
        error=reply.error,
        percent=reply.percent,
        rows_done=reply.rows_done,
        counts=reply.counts,
        filename=reply.filename,
        created_at=reply.created_at,
        finished_at=reply.finished_at,
    )


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
)
async def start_import(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    file: Annotated[UploadFile, File(description="The CSV file")],
    mapping: Annotated[
        str, Form(description='JSON: our field → the CSV\'s header, e.g. {"email": "E-mail"}')
    ],
) -> ImportOut:
    await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()
    fields = parse_mapping(mapping)
    service = service_of(request)
    size = file.size if file.size is not None else _measure(file)
    if size == 0:
        raise HTTPException(422, "The file is empty.")
    if size > service.settings.import_max_bytes:
        raise HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            f"The file is {size:,} bytes; the limit is {service.settings.import_max_bytes:,} bytes.",
        )
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
        filename=file.filename or "",
        total_bytes=size,
        mapping=fields,
    )
    try:
        reply: ImportStatusReply = await ask(service, "start_import", "importer", command, ImportStatusReply)
    except HTTPException:
        await store.delete(object_name)
        raise
    return import_out(reply)


def _measure(file: UploadFile) -> int:
    file.file.seek(0, 2)
    size = file.file.tell()
    file.file.seek(0)
    return size


@router.get("/imports/{import_id}", response_model=ImportOut, tags=["imports"])
async def get_import(import_id: UUID, workspace_id: Workspace, request: Request) -> ImportOut:
    reply = await ask(
        service_of(request),
        "get_import",
        "importer",
        GetImport(workspace_id=workspace_id, import_id=import_id),
        ImportStatusReply,
    )
    return import_out(reply)
