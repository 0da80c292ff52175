"""The workspace suppression list: addresses that are never imported (unsubscribed, hard-bounced, manual)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from contracts.commands import (
    AddSuppression,
    ListSuppressions,
    RemoveSuppression,
    Reply,
    Suppression,
    SuppressionPage,
    SuppressionReply,
)
from services.gateway.deps import Workspace, ask, raise_for_reply, service_of

router = APIRouter(prefix="/api/v1", tags=["suppressions"])


class SuppressionIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    reason: str = Field(default="", max_length=500)


class SuppressionOut(BaseModel):
    email: str
    reason: str
    source: str = Field(description="manual, unsubscribed or bounced")
    created_at: datetime


class SuppressionList(BaseModel):
    items: list[SuppressionOut]
    total: int
    next_cursor: str | None


def _out(item: Suppression) -> SuppressionOut:
    return SuppressionOut.model_validate(item.model_dump())


@router.post("/suppressions", status_code=status.HTTP_201_CREATED, response_model=SuppressionOut)
async def add_suppression(body: SuppressionIn, workspace_id: Workspace, request: Request) -> SuppressionOut:
    """Add an address; later imports report it as `suppressed`. Adding it again changes nothing."""
    reply: SuppressionReply = await ask(
        service_of(request),
        "add_suppression",
        "importer",
        AddSuppression(workspace_id=workspace_id, email=body.email, reason=body.reason),
        SuppressionReply,
    )
    raise_for_reply(reply)
    assert reply.suppression is not None
    return _out(reply.suppression)


@router.get("/suppressions", response_model=SuppressionList)
async def list_suppressions(
    workspace_id: Workspace,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
    q: Annotated[str | None, Query(max_length=320)] = None,
) -> SuppressionList:
    reply: SuppressionPage = await ask(
        service_of(request),
        "list_suppressions",
        "importer",
        ListSuppressions(workspace_id=workspace_id, limit=limit, cursor=cursor, q=q),
        SuppressionPage,
    )
    raise_for_reply(reply)
    return SuppressionList(
        items=[_out(i) for i in reply.items], total=reply.total, next_cursor=reply.next_cursor
    )


@router.delete("/suppressions/{email}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def remove_suppression(email: str, workspace_id: Workspace, request: Request) -> Response:
    reply: Reply = await ask(
        service_of(request),
        "remove_suppression",
        "importer",
        RemoveSuppression(workspace_id=workspace_id, email=email),
        Reply,
    )
    raise_for_reply(reply)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
