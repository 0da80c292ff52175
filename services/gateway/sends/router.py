"""A campaign's sends, owned by the mailer: what was sent from which mailbox, what is queued, what failed
and why, and what is uncertain (its mailer stopped during the send: never sent again automatically)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from contracts.commands import (
    SEND_PAGE_MAX,
    ListSends,
    ResolveSend,
    Send,
    SendPage,
    SendResolution,
    SendResolved,
    SendState,
)
from services.gateway.campaigns.queries import campaign_or_404
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, JSON_BODY, NO_SUCH_CAMPAIGN, problem

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


class Resolution(BaseModel):
    outcome: SendResolution = Field(
        description="`sent`: it went out (found in the mailbox's Sent folder or with the recipient): recorded as "
        "sent, and the lead moves on. `resend`: it did not: queued again and sent as any other send."
    )


@router.post(
    "/sends/{send_id}/resolve",
    response_model=Send,
    responses={
        **JSON_BODY,
        404: problem("No such send in this workspace."),
        409: problem("The send is not uncertain (the message says its state)."),
    },
)
async def resolve_send(send_id: UUID, body: Resolution, workspace_id: Workspace, request: Request) -> Send:
    """Settle an uncertain send by hand: the mailer never sends one again by itself (it may have gone out)."""
    reply = await ask(
        service_of(request),
        "resolve_send",
        "mailer",
        ResolveSend(workspace_id=workspace_id, send_id=send_id, outcome=body.outcome),
        SendResolved,
    )
    return reply.send
