"""Development helpers: the messages `leadflow up`'s local SMTP capture received (the UI's "Outbox (local)").

On only when LEADFLOW_CAPTURE_DIR names the capture's Maildir, which `leadflow up` sets; elsewhere the
route answers `enabled: false` and no items. The capture is the machine's, not a workspace's: every signed-in
workspace of a dev stack sees it (the stack is one developer's).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.deps import Workspace, service_of
from services.gateway.dev.outbox import CapturedMessage, newest
from services.gateway.errors import API_RESPONSES

OUTBOX_PAGE_MAX = 200

router = APIRouter(prefix="/api/v1/dev", tags=["development"], responses=API_RESPONSES)


class CapturedOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    id: str = Field(description="the message's key in the capture's Maildir")
    received_at: datetime
    sender: str = Field(alias="from", description="the From header (the envelope's sender without one)")
    to: str = Field(description="the To header (the envelope's recipients without one)")
    subject: str
    message_id: str
    headers: dict[str, str] = Field(description="every header; a repeated one's values joined by newlines")
    text: str = Field(description="the plain-text part (its first 100,000 characters)")


class OutboxOut(BaseModel):
    items: list[CapturedOut]
    enabled: bool = Field(description="whether this gateway has a local capture to read (`leadflow up`)")


def _out(message: CapturedMessage) -> CapturedOut:
    return CapturedOut(
        id=message.id,
        received_at=message.received_at,
        sender=message.sender,
        to=message.to,
        subject=message.subject,
        message_id=message.message_id,
        headers=message.headers,
        text=message.text,
    )


@router.get("/outbox", response_model=OutboxOut)
async def outbox(
    workspace_id: Workspace,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=OUTBOX_PAGE_MAX)] = 50,
) -> OutboxOut:
    """What the local SMTP capture received, newest first (nothing it receives is delivered)."""
    folder = service_of(request).settings.capture_dir
    if folder is None:
        return OutboxOut(items=[], enabled=False)
    messages = await asyncio.to_thread(newest, folder, limit)
    return OutboxOut(items=[_out(m) for m in messages], enabled=True)
