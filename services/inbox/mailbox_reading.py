"""Where reading each mailbox stands, for people: is it read, failing (and why), or not yet connected; when its
server last answered; how many messages were stored from it and when the last one was.

The reader (reader.py) keeps this with the mailbox: a failed session records its error, and a connect, each
look that finds nothing new and each batch clear it and set `read_at` (answered as `checked_at`). So a user
whose IMAP login fails reads the server's words next to the mailbox instead of wondering why no reply
arrives, and a healthy mailbox idling without new mail still shows a recent check.

The state:
- `failing`: the last attempt failed (its error is kept until one succeeds), whoever holds the lease;
- `reading`: a replica holds the mailbox (its lease has not run out) and its server answered since;
- `starting`: otherwise. The mailbox is new (the inbox hears of it on MailboxChanged and asks the mailer at
  once), its reader has not connected yet, or no replica runs (every lease ran out).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import GetMailboxReading, MailboxReading, MailboxReadingReply, ReadingState
from services.inbox.tables import mailboxes, messages
from services.runtime.service import Service


def _state_of(row: Any) -> ReadingState:
    """See the module: an error first, then a live lease with a server that answered."""
    if row.error is not None:
        return "failing"
    if row.held and row.read_at is not None:
        return "reading"
    return "starting"


async def mailbox_reading(service: Service, cmd: GetMailboxReading) -> MailboxReadingReply:
    """Each mailbox asked for, in the order asked (each once; one the inbox does not read yet is `starting`),
    or without ids every one of the workspace the inbox reads. Another workspace's mailbox is answered as one
    the inbox does not know: `starting`, nothing stored."""
    in_workspace = mailboxes.c.workspace_id == cmd.workspace_id
    wanted = None if cmd.mailbox_ids is None else list(dict.fromkeys(cmd.mailbox_ids))
    async with service.sessions() as session:
        rows = (
            await session.execute(
                select(
                    mailboxes.c.id,
                    mailboxes.c.error,
                    mailboxes.c.read_at,
                    # The database's clock, the one the leases are taken by (readers.py).
                    func.coalesce(mailboxes.c.lease_until > func.now(), false()).label("held"),
                )
                .where(in_workspace, *([] if wanted is None else [mailboxes.c.id.in_(wanted)]))
                .order_by(mailboxes.c.id)
            )
        ).all()
        known = {row.id: row for row in rows}
        ids = list(known) if wanted is None else wanted
        stored = await _stored(session, cmd.workspace_id, ids)
    return MailboxReadingReply(
        items=[_reading(mailbox_id, known.get(mailbox_id), stored.get(mailbox_id)) for mailbox_id in ids]
    )


async def _stored(session: AsyncSession, workspace_id: UUID, ids: list[UUID]) -> dict[UUID, Any]:
    """Per mailbox, the messages stored from it: how many, and when the newest was."""
    if not ids:
        return {}
    rows = await session.execute(
        select(
            messages.c.mailbox_id, func.count().label("count"), func.max(messages.c.received_at).label("last")
        )
        .where(messages.c.workspace_id == workspace_id, messages.c.mailbox_id.in_(ids))
        .group_by(messages.c.mailbox_id)
    )
    return {row.mailbox_id: row for row in rows}


def _reading(mailbox_id: UUID, row: Any, counted: Any) -> MailboxReading:
    return MailboxReading(
        mailbox_id=mailbox_id,
        state="starting" if row is None else _state_of(row),
        error=None if row is None else row.error,
        checked_at=None if row is None else row.read_at,
        messages=0 if counted is None else int(counted.count),
        last_message_at=None if counted is None else counted.last,
    )
