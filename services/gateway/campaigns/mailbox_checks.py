"""Before a campaign is activated, the gateway tests each of its mailboxes (the mailer's `test_mailbox`, all
at once): each failure, in words, is a reason the sequencer refuses the activation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

from contracts.commands import GetMailbox, MailboxReply, MailboxTestReply, TestMailbox
from contracts.replies import RefusalKind
from services.gateway.deps import ask
from services.gateway.errors import CommandRefused
from services.runtime.service import Service


def failure_text(email: str, reply: MailboxTestReply) -> str | None:
    """What failed for the mailbox `email` ("sales@x.cz: SMTP login refused: 535 …"); None when it passed."""
    if reply.ok:
        return None
    errors = [
        _named(server, check.error or "failed")
        for server, check in (("SMTP", reply.smtp), ("IMAP", reply.imap))
        if check is not None and not check.ok
    ]
    return f"{email}: " + ("; ".join(errors) or "the test failed")


def _named(server: str, error: str) -> str:
    """The error with the server it is about, unless it already names it ("SMTP login refused: …")."""
    return error if server in error.split() else f"{server}: {error}"


async def _check(service: Service, workspace_id: UUID, mailbox_id: UUID) -> str | None:
    try:
        mailbox, tested = await asyncio.gather(
            ask(
                service,
                "get_mailbox",
                "mailer",
                GetMailbox(workspace_id=workspace_id, mailbox_id=mailbox_id),
                MailboxReply,
            ),
            ask(
                service,
                "test_mailbox",
                "mailer",
                TestMailbox(workspace_id=workspace_id, mailbox_id=mailbox_id),
                MailboxTestReply,
            ),
        )
    except CommandRefused as refused:
        if refused.kind is RefusalKind.NOT_FOUND:
            return f"mailbox {mailbox_id} no longer exists"
        raise  # the mailer did not answer: the activation cannot be judged, so it is not tried (503)
    return failure_text(mailbox.mailbox.email, tested)


async def mailbox_failures(service: Service, workspace_id: UUID, mailbox_ids: Sequence[UUID]) -> list[str]:
    """What failed, one entry per failing mailbox, in the campaign's order of its mailboxes."""
    found = await asyncio.gather(*(_check(service, workspace_id, m) for m in mailbox_ids))
    return [failure for failure in found if failure is not None]
