"""Uncertain sends settled by a person (`resolve_send`), and the API's view of a send.

A send is uncertain when its mailer stopped between handing the message to the SMTP server and recording
the answer: the mailer never sends it again by itself, because it may have gone out. A person who looked
(the mailbox's Sent folder, the recipient) answers for it:

- `sent`: it went out. The send becomes `sent` as of when it was handed over, with its EmailSent (its
  Message-ID the one the message carried), so the lead moves on as after any send;
- `resend`: it did not. The send is queued again and goes through the whole path (suppression check,
  pacing, a mailbox of the campaign), as a send retried after a 4xx does.

Either way the send's claim token is cleared, so a mailer that was still delivering it when it was made
uncertain can no longer settle it. Only an uncertain send is resolved; anything else is refused with its
state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from contracts import EmailSent
from contracts.commands import ResolveSend, Send, SendResolution, SendResolved
from contracts.replies import Refusal
from services.mailer.settle import step_fields
from services.mailer.tables import mailboxes, sends
from services.runtime.service import Service

NO_SUCH_SEND = "No such send in this workspace."


def send_of(row: Any) -> Send:
    """A row of `sends` joined with its mailbox's address (`mailbox_email`) as the API shows it."""
    return Send(
        id=row.id,
        lead_id=row.lead_id,
        step=row.step,
        total_steps=row.total_steps,
        email=row.email,
        subject=row.subject,
        state=row.state,
        mailbox_id=row.mailbox_id,
        mailbox=row.mailbox_email,
        message_id=row.message_id,
        attempts=row.attempts,
        smtp_code=row.smtp_code,
        last_error=row.last_error,
        queued_at=row.queued_at,
        sent_at=row.sent_at,
    )


def _with_mailbox(workspace_id: UUID, send_id: UUID) -> Any:
    return (
        select(sends, mailboxes.c.email.label("mailbox_email"))
        .outerjoin(mailboxes, mailboxes.c.id == sends.c.mailbox_id)
        .where(sends.c.id == send_id, sends.c.workspace_id == workspace_id)
    )


async def resolve_send(service: Service, command: ResolveSend) -> SendResolved | Refusal:
    now = datetime.now(UTC)
    async with service.unit_of_work() as uow:
        row = (
            await uow.session.execute(
                _with_mailbox(command.workspace_id, command.send_id).with_for_update(of=sends)
            )
        ).first()
        if row is None:
            return Refusal.not_found(NO_SUCH_SEND)
        if row.state != "uncertain":
            return Refusal.conflict(
                f"The send is {row.state}, not uncertain: only an uncertain send is resolved by hand."
            )
        done = {"leased_until": None, "token": None, "last_error": None}
        if command.outcome is SendResolution.SENT:
            sent_at = row.reserved_at or now
            values = done | {"state": "sent", "sent_at": sent_at}
            uow.emit(
                EmailSent(
                    **step_fields(row),
                    message_id=row.message_id,
                    # The mailbox's address, or nothing if it has been removed since.
                    mailbox=row.mailbox_email or "",
                    mailbox_id=row.mailbox_id,
                    subject=row.subject,
                    recipient=row.email,
                    occurred_at=sent_at,
                )
            )
        else:
            values = done | {"state": "queued", "not_before": now, "mailbox_id": None, "message_id": None}
        await uow.session.execute(update(sends).where(sends.c.id == row.id).values(**values))
        resolved = (await uow.session.execute(_with_mailbox(command.workspace_id, command.send_id))).one()
    return SendResolved(send=send_of(resolved))
