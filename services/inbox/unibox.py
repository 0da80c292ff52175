"""The Unibox's commands: the workspace's stored messages a page at a time, one message with its thread, read
or unread, and a person's reclassification (docs/inbox.md, "Unibox API").

Every command is scoped to its workspace: another workspace's message is not found. Reclassifying changes
the stored kind and announces what the lead must undo and what the new kind does, in one transaction:
`InboundReclassified` (with the status to undo, when the overturned decision gave the lead one that no other
message of it still gives), then the new kind's own events (effects.py), as if it had been read so.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import InboundReclassified, LeadStatus
from contracts.commands import (
    GetInboxMessage,
    InboxMessage,
    InboxMessageDetail,
    InboxMessageMarked,
    InboxMessagePage,
    InboxMessageReply,
    ListInboxMessages,
    MarkInboxMessage,
    ReclassifyInboxMessage,
    SentMessage,
)
from contracts.replies import Refusal
from services.inbox.classify import Kind
from services.inbox.effects import Decided, Send, effects, snippet
from services.inbox.mime import parse, parts
from services.inbox.tables import messages, sent
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor
from services.runtime.service import Service

NO_SUCH_MESSAGE = "No such message in this workspace."
MANUAL_RULE = "manual"

# The status each kind gives its lead, which a person's overturning of it takes back.
_STATUS_OF: dict[str, LeadStatus] = {"reply": LeadStatus.REPLIED, "hard_bounce": LeadStatus.BOUNCED}

_LISTED = (
    messages.c.id,
    messages.c.received_at,
    messages.c.mailbox_id,
    messages.c.from_address,
    messages.c.subject,
    messages.c.text,
    messages.c.kind,
    messages.c.rule,
    messages.c.status_code,
    messages.c.lead_id,
    messages.c.campaign_id,
    messages.c.step,
    messages.c.read,
    messages.c.return_date,
)


def _listed(row: Any) -> InboxMessage:
    return InboxMessage(
        id=row.id,
        received_at=row.received_at,
        mailbox_id=row.mailbox_id,
        from_address=row.from_address,
        subject=row.subject,
        snippet=snippet(row.text),
        kind=row.kind,
        rule=row.rule,
        status=row.status_code,
        lead_id=row.lead_id,
        campaign_id=row.campaign_id,
        step=row.step,
        read=row.read,
        return_date=row.return_date,
    )


def _position(cursor: str) -> tuple[datetime, UUID]:
    """The (received_at, id) a page ended with; raises InvalidCursor for a cursor that holds none."""
    position = decode_cursor(cursor)
    try:
        at, message_id = position
        return datetime.fromisoformat(at), UUID(message_id)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor from exc


async def list_messages(service: Service, cmd: ListInboxMessages) -> InboxMessagePage | Refusal:
    filters = [messages.c.workspace_id == cmd.workspace_id]
    if cmd.campaign_id is not None:
        filters.append(messages.c.campaign_id == cmd.campaign_id)
    if cmd.mailbox_id is not None:
        filters.append(messages.c.mailbox_id == cmd.mailbox_id)
    if cmd.kind is not None:
        filters.append(messages.c.kind == cmd.kind)
    if cmd.unread is not None:
        filters.append(messages.c.read.is_(not cmd.unread))
    if cmd.cursor:
        try:
            at, after = _position(cmd.cursor)
        except InvalidCursor as exc:
            return Refusal.invalid(str(exc))
        filters.append(tuple_(messages.c.received_at, messages.c.id) < tuple_(at, after))
    async with service.sessions() as session:
        rows = (
            await session.execute(
                select(*_LISTED)
                .where(*filters)
                .order_by(messages.c.received_at.desc(), messages.c.id.desc())
                .limit(cmd.limit + 1)
            )
        ).all()
    page = rows[: cmd.limit]
    next_cursor = None
    if len(rows) > cmd.limit:
        last = page[-1]
        next_cursor = encode_cursor([last.received_at.isoformat(), str(last.id)])
    return InboxMessagePage(items=[_listed(row) for row in page], next_cursor=next_cursor)


async def _stored(session: AsyncSession, workspace_id: UUID, message_id: UUID, *, lock: bool = False) -> Any:
    statement = select(messages).where(messages.c.id == message_id, messages.c.workspace_id == workspace_id)
    if lock:
        statement = statement.with_for_update()
    return (await session.execute(statement)).first()


async def _thread(session: AsyncSession, row: Any) -> list[SentMessage]:
    """What was sent to the message's lead in its campaign, in the order it went."""
    if row.lead_id is None or row.campaign_id is None:
        return []
    sends = await session.execute(
        select(sent.c.message_id, sent.c.step, sent.c.subject, sent.c.sent_at)
        .where(
            sent.c.workspace_id == row.workspace_id,
            sent.c.lead_id == row.lead_id,
            sent.c.campaign_id == row.campaign_id,
        )
        .order_by(sent.c.sent_at, sent.c.step)
    )
    return [
        SentMessage(message_id=s.message_id, step=s.step, subject=s.subject, sent_at=s.sent_at) for s in sends
    ]


def _full_text(raw: bytes) -> str:
    return parts(parse(raw)).text.replace("\x00", "")


async def _detail(session: AsyncSession, row: Any) -> InboxMessageDetail:
    # Parsing a large message (attachments) takes a while: off the event loop.
    full_text = await asyncio.to_thread(_full_text, row.raw)
    return InboxMessageDetail(
        **_listed(row).model_dump(),
        text=row.text,
        full_text=full_text,
        classified_kind=row.classified_kind,
        classified_rule=row.classified_rule,
        diagnostic=row.diagnostic,
        bounced_recipient=row.bounced_recipient,
        in_reply_to=row.in_reply_to,
        linked_by=row.linked_by,
        reclassified_by=row.reclassified_by,
        reclassified_at=row.reclassified_at,
        thread=await _thread(session, row),
    )


async def get_message(service: Service, cmd: GetInboxMessage) -> InboxMessageReply | Refusal:
    async with service.sessions() as session:
        row = await _stored(session, cmd.workspace_id, cmd.message_id)
        if row is None:
            return Refusal.not_found(NO_SUCH_MESSAGE)
        return InboxMessageReply(message=await _detail(session, row))


async def mark_message(service: Service, cmd: MarkInboxMessage) -> InboxMessageMarked | Refusal:
    async with service.unit_of_work() as uow:
        row = (
            await uow.session.execute(
                update(messages)
                .where(messages.c.id == cmd.message_id, messages.c.workspace_id == cmd.workspace_id)
                .values(read=cmd.read)
                .returning(*_LISTED)
            )
        ).first()
    if row is None:
        return Refusal.not_found(NO_SUCH_MESSAGE)
    return InboxMessageMarked(message=_listed(row))


async def reclassify(service: Service, cmd: ReclassifyInboxMessage) -> InboxMessageReply | Refusal:
    """Overturn the message's kind (see the module). The same kind again changes nothing."""
    async with service.unit_of_work() as uow:
        row = await _stored(uow.session, cmd.workspace_id, cmd.message_id, lock=True)
        if row is None:
            return Refusal.not_found(NO_SUCH_MESSAGE)
        if row.kind != cmd.kind:
            await uow.session.execute(
                update(messages)
                .where(messages.c.id == row.id)
                .values(kind=cmd.kind, rule=MANUAL_RULE, reclassified_by=cmd.by, reclassified_at=func.now())
            )
            send = await _send_of(uow.session, row)
            if send is not None:
                undoes = await _undoes(uow.session, row)
                uow.emit(
                    InboundReclassified(
                        workspace_id=send.workspace_id,
                        campaign_id=send.campaign_id,
                        lead_id=send.lead_id,
                        inbox_message_id=row.id,
                        from_kind=row.kind,
                        to_kind=cmd.kind,
                        by=cmd.by,
                        email=send.recipient or row.bounced_recipient or "",
                        undoes=undoes,
                    ),
                    *effects(_decided(row, cmd.kind), send),
                )
            row = await _stored(uow.session, cmd.workspace_id, cmd.message_id)
        return InboxMessageReply(message=await _detail(uow.session, row))


async def _send_of(session: AsyncSession, row: Any) -> Send | None:
    """The send the message was linked to (its `in_reply_to` is that send's Message-ID once linked)."""
    if row.lead_id is None or row.in_reply_to is None:
        return None
    found = (
        await session.execute(
            select(
                sent.c.message_id,
                sent.c.workspace_id,
                sent.c.campaign_id,
                sent.c.lead_id,
                sent.c.step,
                sent.c.mailbox_id,
                sent.c.recipient,
            ).where(sent.c.workspace_id == row.workspace_id, sent.c.message_id == row.in_reply_to)
        )
    ).first()
    return None if found is None else Send(*found)


async def _undoes(session: AsyncSession, row: Any) -> LeadStatus | None:
    """The status the overturned kind gave the lead, unless another of its messages in the campaign, of
    that kind, still gives it."""
    status = _STATUS_OF.get(row.kind)
    if status is None:
        return None
    others = await session.scalar(
        select(func.count())
        .select_from(messages)
        .where(
            messages.c.workspace_id == row.workspace_id,
            messages.c.lead_id == row.lead_id,
            messages.c.campaign_id == row.campaign_id,
            messages.c.kind == row.kind,
            messages.c.id != row.id,
        )
    )
    return None if others else status


def _decided(row: Any, kind: Kind) -> Decided:
    return Decided(
        id=row.id,
        workspace_id=row.workspace_id,
        mailbox_id=row.mailbox_id,
        message_id=row.message_id,
        from_address=row.from_address,
        subject=row.subject,
        text=row.text,
        kind=kind,
        rule=MANUAL_RULE,
        status=row.status_code,
        smtp_code=row.smtp_code,
        diagnostic=row.diagnostic,
        bounced_recipient=row.bounced_recipient,
        return_date=row.return_date if kind == "auto_reply" else None,
    )
