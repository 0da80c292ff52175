"""Sender mailboxes, owned by the mailer. Every route is scoped to the caller's workspace: other ids are 404.

A mailbox with IMAP settings is answered with where reading its replies stands (`imap_reading`), asked from
the inbox service with a short wait: a user whose IMAP login fails sees it next to the mailbox, and an inbox
that is down or slow only makes that part `unknown`, never the mailboxes' answer late or failed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import ValidationError

from contracts.commands import (
    MAILBOX_PAGE_MAX,
    CreateMailbox,
    DeleteMailbox,
    GetMailbox,
    GetMailboxReading,
    ListMailboxes,
    Mailbox,
    MailboxDeleted,
    MailboxPage,
    MailboxReadingReply,
    MailboxReply,
    MailboxTestReply,
    ServerIn,
    ServerPatch,
    TestMailbox,
    UpdateMailbox,
)
from services.gateway.deps import Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, CROSS_SITE, JSON_BODY, CommandRefused, invalid, problem
from services.gateway.mailboxes.schemas import (
    ImapReadingOut,
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


# The inbox's answer is nice to have next to the mailer's: at most this long is waited for it.
INBOX_READING_TIMEOUT_SECONDS = 1.5
UNKNOWN_READING = ImapReadingOut(
    state="unknown", error=None, checked_at=None, messages=None, last_message_at=None
)


async def _outs(request: Request, workspace_id: UUID, found: Sequence[Mailbox]) -> list[MailboxOut]:
    """The mailboxes as answered: each with IMAP settings with where reading it stands (null without)."""
    with_imap = [mailbox.id for mailbox in found if mailbox.imap is not None]
    readings: dict[UUID, ImapReadingOut] = {}
    if with_imap:
        try:
            reply = await ask(
                service_of(request),
                "mailbox_reading",
                "inbox",
                GetMailboxReading(workspace_id=workspace_id, mailbox_ids=with_imap),
                MailboxReadingReply,
                reply_within=INBOX_READING_TIMEOUT_SECONDS,
            )
            readings = {
                item.mailbox_id: ImapReadingOut.model_validate(item.model_dump(exclude={"mailbox_id"}))
                for item in reply.items
            }
        except (CommandRefused, ValidationError):
            pass  # every mailbox with IMAP is `unknown` below
    return [
        MailboxOut.model_validate(
            mailbox.model_dump()
            | {"imap_reading": None if mailbox.imap is None else readings.get(mailbox.id, UNKNOWN_READING)}
        )
        for mailbox in found
    ]


async def _out(request: Request, workspace_id: UUID, mailbox: Mailbox) -> MailboxOut:
    (out,) = await _outs(request, workspace_id, [mailbox])
    return out


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
    return await _out(request, workspace_id, reply.mailbox)


@router.get("/mailboxes", response_model=MailboxList)
async def list_mailboxes(
    workspace_id: Workspace,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAILBOX_PAGE_MAX)] = 100,
    after: Annotated[UUID | None, Query(description="`next_after` of the previous page")] = None,
) -> MailboxList:
    """The workspace's mailboxes; each with IMAP settings says where reading its replies stands
    (`imap_reading`: reading, failing with the error, starting, or unknown when the inbox is silent)."""
    reply = await ask(
        service_of(request),
        "list_mailboxes",
        "mailer",
        ListMailboxes(workspace_id=workspace_id, limit=limit, after=after),
        MailboxPage,
    )
    return MailboxList(items=await _outs(request, workspace_id, reply.items), next_after=reply.next_after)


@router.get("/mailboxes/{mailbox_id}", response_model=MailboxOut, responses=NO_SUCH_MAILBOX)
async def get_mailbox(mailbox_id: UUID, workspace_id: Workspace, request: Request) -> MailboxOut:
    """One mailbox, with where reading its replies stands (`imap_reading`, as in the list)."""
    reply = await ask(
        service_of(request),
        "get_mailbox",
        "mailer",
        GetMailbox(workspace_id=workspace_id, mailbox_id=mailbox_id),
        MailboxReply,
    )
    return await _out(request, workspace_id, reply.mailbox)


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
    return await _out(request, workspace_id, reply.mailbox)


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
