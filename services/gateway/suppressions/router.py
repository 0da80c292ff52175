"""The workspace suppression list: addresses that are never imported (unsubscribed, hard-bounced, manual)."""

from __future__ import annotations

from typing import Annotated
from uuid import uuid4

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, Request, Response, UploadFile, status
from pydantic import TypeAdapter

from contracts.commands import (
    AddSuppression,
    ListSuppressions,
    RejectedSuppressionRow,
    RemoveSuppression,
    Suppression,
    SuppressionPage,
    SuppressionRemoved,
    SuppressionReply,
    SuppressionsUploaded,
    UploadSuppressions,
)
from contracts.text import Text
from services.gateway.deps import Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, CROSS_SITE, JSON_BODY, MULTIPART_BODY, invalid, problem
from services.gateway.imports.uploads import checked_size, upload_filename
from services.gateway.suppressions.schemas import (
    Address,
    AddressPart,
    Reason,
    SuppressionIn,
    SuppressionList,
    SuppressionOut,
    SuppressionUploadOut,
)
from services.runtime.streams import UPLOADS_BUCKET

router = APIRouter(prefix="/api/v1", tags=["suppressions"], responses=API_RESPONSES)


def _out(item: Suppression) -> SuppressionOut:
    return SuppressionOut.model_validate(item.model_dump())


@router.post(
    "/suppressions", status_code=status.HTTP_201_CREATED, response_model=SuppressionOut, responses=JSON_BODY
)
async def add_suppression(body: SuppressionIn, workspace_id: Workspace, request: Request) -> SuppressionOut:
    """Add an address; later imports report it as `suppressed`. Adding it again changes nothing."""
    reply = await ask(
        service_of(request),
        "add_suppression",
        "importer",
        AddSuppression(workspace_id=workspace_id, email=body.email, reason=body.reason),
        SuppressionReply,
    )
    return _out(reply.suppression)


@router.get("/suppressions", response_model=SuppressionList)
async def list_suppressions(
    workspace_id: Workspace,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[Text | None, Query(description="`next_cursor` of the previous page")] = None,
    q: Annotated[AddressPart | None, Query()] = None,
) -> SuppressionList:
    reply = await ask(
        service_of(request),
        "list_suppressions",
        "importer",
        ListSuppressions(workspace_id=workspace_id, limit=limit, cursor=cursor, q=q),
        SuppressionPage,
    )
    return SuppressionList(
        items=[_out(i) for i in reply.items], total=reply.total, next_cursor=reply.next_cursor
    )


@router.delete(
    "/suppressions/{email}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**CROSS_SITE, 404: problem("That address is not on the suppression list.")},
)
async def remove_suppression(
    email: Annotated[Address, Path(description="the address, as listed")],
    workspace_id: Workspace,
    request: Request,
) -> Response:
    await ask(
        service_of(request),
        "remove_suppression",
        "importer",
        RemoveSuppression(workspace_id=workspace_id, email=email),
        SuppressionRemoved,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/suppressions/upload",
    response_model=SuppressionUploadOut,
    responses={
        **MULTIPART_BODY,
        413: problem("The file is larger than `LEADFLOW_SUPPRESSION_UPLOAD_MAX_BYTES` (10 MB by default)."),
        422: invalid("An empty file, or one that is not a readable CSV."),
    },
)
async def upload_suppressions(
    workspace_id: Workspace,
    request: Request,
    file: Annotated[UploadFile, File(description="A CSV of addresses")],
    reason: Annotated[Reason, Form(description="why; default: the file's name")] = "",
) -> SuppressionUploadOut:
    """Add every address of a CSV to the suppression list, in one transaction. The file may be in any
    encoding and delimiter an import recognises; the addresses are in the column a header names as the
    email ("email", "E-mail", …), else in the first column (a file without a header works too). Each
    non-blank row is counted once: `added`, `already`, or in `rejected` with its row and reason."""
    service = service_of(request)
    filename = upload_filename(file)
    checked_size(file, service.settings.suppression_upload_max_bytes)
    object_name = f"suppressions-{uuid4()}"
    store = await service.js.object_store(UPLOADS_BUCKET)
    await file.seek(0)
    await store.put(object_name, file.file)  # type: ignore[arg-type]
    try:
        reply = await ask(
            service,
            "upload_suppressions",
            "importer",
            UploadSuppressions(
                workspace_id=workspace_id,
                object_name=object_name,
                filename=filename,
                reason=reason,
            ),
            SuppressionsUploaded,
        )
    finally:
        await store.delete(object_name)
    rejected: list[RejectedSuppressionRow] = []
    if reply.rejected_object:
        document = await store.get(reply.rejected_object)
        await store.delete(reply.rejected_object)
        rejected = _REJECTED_ROWS.validate_json(document.data or b"[]")
    if len(rejected) != reply.rejected_count:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The list of rejected rows was lost; upload the file again."
        )
    return SuppressionUploadOut(added=reply.added, already=reply.already, rejected=rejected)


_REJECTED_ROWS = TypeAdapter(list[RejectedSuppressionRow])
