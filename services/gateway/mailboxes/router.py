"""Sender mailboxes, owned by the mailer. Every route is scoped to the caller's workspace: other ids are 404."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response, status

from contracts.commands import (
    MAILBOX_PAGE_MAX,
    CreateMailbox,
    DeleteMailbox,
    GetMailbox,
    ListMailboxes,
    Mailbox,
    MailboxDeleted,
    MailboxPage,
    MailboxReply,
    MailboxTestReply,
    ServerIn,
    ServerPatch,
    TestMailbox,
    UpdateMailbox,
)
from services.gateway.deps import Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, CROSS_SITE, JSON_BODY, invalid, problem
from services.gateway.mailboxes.schemas import (
    MailboxIn,
    MailboxList,
    MailboxOut,
    MailboxPatch,
    MailboxTestOut,
)

router = APIRouter(prefix="/api/v1", tags=["mailboxes"], responses=API_RESPONSES)

NO_SUCH_MAILBOX: dict[int | str, dict[str, Any]] = {404: problem("No such mailbox in this workspace.")}
BAD_SETTINGS: dict[int | str, dict[str, Any]] = {
    422: invalid("The settings are refused: every reason, in words.")
}


def _out(mailbox: Mailbox) -> MailboxOut:
    return MailboxOut.model_validate(mailbox.model_dump())


@router.post(
    "/mailboxes",
    status_code=status.HTTP_201_CREATED,
    response_model=MailboxOut,
    responses={**JSON_BODY, **BAD_SETTINGS},
)
async def create_mailbox(body: MailboxIn, workspace_id: Workspace, request: Request) -> MailboxOut:
    """Add a sender mailbox. Its passwords are stored encrypted and never answered."""
    reply = await ask(
        service_of(request),
        "create_mailbox",
        "mailer",
        CreateMailbox(
            workspace_id=workspace_id,
            mailbox_id=uuid4(),
            email=body.email,
            name=body.name,
            smtp=ServerIn.model_validate(body.smtp.model_dump()),
            imap=None if body.imap is None else ServerIn.model_validate(body.imap.model_dump()),
            daily_limit=body.daily_limit,
            min_gap_seconds=body.min_gap_seconds,
        ),
        MailboxReply,
    )
    return _out(reply.mailbox)


@router.get("/mailboxes", response_model=MailboxList)
async def list_mailboxes(
    workspace_id: Workspace,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAILBOX_PAGE_MAX)] = 100,
    after: Annotated[UUID | None, Query(description="`next_after` of the previous page")] = None,
) -> MailboxList:
    reply = await ask(
        service_of(request),
        "list_mailboxes",
        "mailer",
        ListMailboxes(workspace_id=workspace_id, limit=limit, after=after),
        MailboxPage,
    )
    return MailboxList(items=[_out(m) for m in reply.items], next_after=reply.next_after)


@router.get("/mailboxes/{mailbox_id}", response_model=MailboxOut, responses=NO_SUCH_MAILBOX)
async def get_mailbox(mailbox_id: UUID, workspace_id: Workspace, request: Request) -> MailboxOut:
    reply = await ask(
        service_of(request),
        "get_mailbox",
        "mailer",
        GetMailbox(workspace_id=workspace_id, mailbox_id=mailbox_id),
        MailboxReply,
    )
    return _out(reply.mailbox)


@router.patch(
    "/mailboxes/{mailbox_id}",
    response_model=MailboxOut,
    responses={**JSON_BODY, **NO_SUCH_MAILBOX, **BAD_SETTINGS},
)
async def update_mailbox(
    mailbox_id: UUID, body: MailboxPatch, workspace_id: Workspace, request: Request
) -> MailboxOut:
    """Change any of the settings; a password only when one is given. `"imap": null` removes IMAP."""
    reply = await ask(
        service_of(request),
        "update_mailbox",
        "mailer",
        UpdateMailbox(
            workspace_id=workspace_id,
            mailbox_id=mailbox_id,
            email=body.email,
            name=body.name,
            smtp=None if body.smtp is None else ServerPatch.model_validate(body.smtp.model_dump()),
            imap=None if body.imap is None else ServerPatch.model_validate(body.imap.model_dump()),
            remove_imap="imap" in body.model_fields_set and body.imap is None,
            daily_limit=body.daily_limit,
            min_gap_seconds=body.min_gap_seconds,
        ),
        MailboxReply,
    )
    return _out(reply.mailbox)


@router.delete(
    "/mailboxes/{mailbox_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**CROSS_SITE, **NO_SUCH_MAILBOX},
)
async def delete_mailbox(mailbox_id: UUID, workspace_id: Workspace, request: Request) -> Response:
    await ask(
        service_of(request),
        "delete_mailbox",
        "mailer",
        DeleteMailbox(workspace_id=workspace_id, mailbox_id=mailbox_id),
        MailboxDeleted,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/mailboxes/{mailbox_id}/test",
    response_model=MailboxTestOut,
    responses={**CROSS_SITE, **NO_SUCH_MAILBOX},
)
async def test_mailbox(mailbox_id: UUID, workspace_id: Workspace, request: Request) -> MailboxTestOut:
    """Connect and log in to the SMTP server, and the IMAP server when set; say what failed, in words."""
    reply = await ask(
        service_of(request),
        "test_mailbox",
        "mailer",
        TestMailbox(workspace_id=workspace_id, mailbox_id=mailbox_id),
        MailboxTestReply,
    )
    return MailboxTestOut.model_validate(reply.model_dump())
