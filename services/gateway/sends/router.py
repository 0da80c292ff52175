"""A campaign's sends, owned by the mailer: what was sent from which mailbox, what is queued, what failed
and why, and what is uncertain (its mailer stopped during the send: never sent again automatically)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from contracts.commands import SEND_PAGE_MAX, ListSends, Send, SendPage, SendState
from services.gateway.campaigns.queries import campaign_or_404
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, NO_SUCH_CAMPAIGN

router = APIRouter(prefix="/api/v1", tags=["sends"], responses=API_RESPONSES)


class SendList(BaseModel):
    items: list[Send]
    next_after: UUID | None = Field(default=None, description="pass as `after` for the next page")


@router.get("/campaigns/{campaign_id}/sends", response_model=SendList, responses=NO_SUCH_CAMPAIGN)
async def list_sends(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    state: Annotated[SendState | None, Query(description="only the sends in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=SEND_PAGE_MAX)] = 100,
    after: Annotated[UUID | None, Query(description="`next_after` of the previous page")] = None,
) -> SendList:
    await campaign_or_404(session, workspace_id, campaign_id)
    reply = await ask(
        service_of(request),
        "list_sends",
        "mailer",
        ListSends(workspace_id=workspace_id, campaign_id=campaign_id, state=state, limit=limit, after=after),
        SendPage,
    )
    return SendList(items=reply.items, next_after=reply.next_after)
