"""The Unibox: every message read from the workspace's mailboxes, owned by the inbox. Every route is scoped
to the caller's workspace: other ids are 404. A message read whole has its lead and campaign added from the
gateway's own tables (lead_view, campaigns)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse

from contracts import InboundKind
from contracts.commands import (
    INBOX_PAGE_MAX,
    GetInboxMessage,
    InboxMessage,
    InboxMessageDetail,
    InboxMessageMarked,
    InboxMessagePage,
    InboxMessageReply,
    ListInboxMessages,
    MarkInboxMessage,
    ReclassifyInboxMessage,
)
from contracts.text import Text
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, JSON_BODY, problem
from services.gateway.inbox.live import stored_stream
from services.gateway.inbox.schemas import (
    CampaignRef,
    InboxMessageList,
    InboxMessageOut,
    LeadRef,
    ReadPatch,
    Reclassification,
)
from services.gateway.jobs.router import Caller
from services.gateway.sse_backlog import SEND_TIMEOUT_SECONDS
from services.gateway.tables import campaigns, lead_view

router = APIRouter(prefix="/api/v1", tags=["inbox"], responses=API_RESPONSES)

NO_SUCH_MESSAGE: dict[int | str, dict[str, Any]] = {404: problem("No such message in this workspace.")}


@router.get("/inbox/messages", response_model=InboxMessageList)
async def list_inbox_messages(
    workspace_id: Workspace,
    request: Request,
    campaign: Annotated[UUID | None, Query(description="only the messages linked to this campaign")] = None,
    mailbox: Annotated[UUID | None, Query(description="only the messages read from this mailbox")] = None,
    kind: Annotated[InboundKind | None, Query(description="only the messages of this kind")] = None,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
    limit: Annotated[int, Query(ge=1, le=INBOX_PAGE_MAX)] = 50,
    cursor: Annotated[Text | None, Query(description="`next_cursor` of the previous page")] = None,
) -> InboxMessageList:
    """The messages read from the workspace's mailboxes, newest first."""
    reply = await ask(
        service_of(request),
        "list_messages",
        "inbox",
        ListInboxMessages(
            workspace_id=workspace_id,
            campaign_id=campaign,
            mailbox_id=mailbox,
            kind=kind,
            unread=unread,
            limit=limit,
            cursor=cursor,
        ),
        InboxMessagePage,
    )
    return InboxMessageList(items=reply.items, next_cursor=reply.next_cursor)


@router.get(
    "/inbox/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def inbox_stream(
    workspace_id: Workspace,
    session: Session,
    request: Request,
    last_event_id: Annotated[Text | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Live: one `stored` event per message the inbox stores in the workspace's mailboxes, with data
    `{"id", "mailbox_id", "kind", "lead_id", "campaign_id", "received_at"}`; read it (or the list again)
    to show it. The first event is `ready` (`resync` when reconnecting with `Last-Event-ID`); `resync` means
    some may have been missed (a reconnect, a slow client): read the list again. Nothing is replayed. A
    `: ping` comment comes every 15 s."""
    await session.close()  # a stream can stay open for hours: it must not hold a pooled connection
    return EventSourceResponse(
        stored_stream(service_of(request), workspace_id, reconnected=last_event_id is not None),
        ping=15,
        send_timeout=SEND_TIMEOUT_SECONDS,
    )


async def _with_lead(
    session: AsyncSession, workspace_id: UUID, message: InboxMessageDetail
) -> InboxMessageOut:
    lead = campaign = None
    if message.lead_id is not None:
        email = await session.scalar(
            select(lead_view.c.email).where(
                lead_view.c.id == message.lead_id, lead_view.c.workspace_id == workspace_id
            )
        )
        lead = LeadRef(id=message.lead_id, email=email)
    if message.campaign_id is not None:
        name = await session.scalar(
            select(campaigns.c.name).where(
                campaigns.c.id == message.campaign_id, campaigns.c.workspace_id == workspace_id
            )
        )
        campaign = CampaignRef(id=message.campaign_id, name=name)
    return InboxMessageOut(**message.model_dump(), lead=lead, campaign=campaign)


@router.get("/inbox/messages/{message_id}", response_model=InboxMessageOut, responses=NO_SUCH_MESSAGE)
async def get_inbox_message(
    message_id: UUID, workspace_id: Workspace, session: Session, request: Request
) -> InboxMessageOut:
    """One message: the sender's own text (quotes folded) and the whole body, every decision on it, its lead
    and campaign, and the thread of what was sent to the lead in that campaign."""
    reply = await ask(
        service_of(request),
        "get_message",
        "inbox",
        GetInboxMessage(workspace_id=workspace_id, message_id=message_id),
        InboxMessageReply,
    )
    return await _with_lead(session, workspace_id, reply.message)


@router.patch(
    "/inbox/messages/{message_id}",
    response_model=InboxMessage,
    responses={**JSON_BODY, **NO_SUCH_MESSAGE},
)
async def mark_inbox_message(
    message_id: UUID, body: ReadPatch, workspace_id: Workspace, request: Request
) -> InboxMessage:
    """Mark the message read or unread."""
    reply = await ask(
        service_of(request),
        "mark_message",
        "inbox",
        MarkInboxMessage(workspace_id=workspace_id, message_id=message_id, read=body.read),
        InboxMessageMarked,
    )
    return reply.message


@router.post(
    "/inbox/messages/{message_id}/reclassify",
    response_model=InboxMessageOut,
    responses={**JSON_BODY, **NO_SUCH_MESSAGE},
)
async def reclassify_inbox_message(
    message_id: UUID,
    body: Reclassification,
    workspace_id: Workspace,
    caller: Caller,
    session: Session,
    request: Request,
) -> InboxMessageOut:
    """Say what the message is. Its first decision is kept (`classified_kind`, `classified_rule`), its rule
    becomes `manual`, and the lead follows: a reply overturned leaves Replied, a hard bounce overturned leaves
    Bounced and its address is unsuppressed, a message made a reply makes the lead Replied (docs/inbox.md)."""
    reply = await ask(
        service_of(request),
        "reclassify_message",
        "inbox",
        ReclassifyInboxMessage(workspace_id=workspace_id, message_id=message_id, kind=body.kind, by=caller),
        InboxMessageReply,
    )
    return await _with_lead(session, workspace_id, reply.message)
