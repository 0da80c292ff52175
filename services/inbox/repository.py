"""The inbox's tables (tables.py), one session at a time: the mailboxes it reads and who holds each, the index
of sends, and the messages read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import ImapLogin
from contracts.commands.mailboxes import Security
from contracts.sending import EmailSent
from services.inbox.effects import LinkedBy, Send
from services.inbox.imap_reader import Position
from services.inbox.tables import mailboxes, messages, sent
from services.runtime.thread_index import conversation_for

# A send as `Send` takes it.
_SEND = (
    sent.c.message_id,
    sent.c.workspace_id,
    sent.c.campaign_id,
    sent.c.lead_id,
    sent.c.step,
    sent.c.mailbox_id,
    sent.c.recipient,
)


@dataclass(frozen=True)
class Mailbox:
    """A mailbox to read, its password still encrypted."""

    id: UUID
    workspace_id: UUID
    email: str
    host: str
    port: int
    username: str
    password_encrypted: str
    security: Security
    settings_updated_at: datetime


@dataclass(frozen=True)
class Link:
    send: Send
    by: LinkedBy


class InboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> InboxRepository:
        return cls(session)

    # -- mailboxes ----------------------------------------------------------------------------------------

    async def replace_logins(self, logins: Sequence[ImapLogin]) -> None:
        """Make the mailboxes to read exactly `logins` (the mailer's answer): new ones added, changed
        settings taken (where reading stands is kept), the others removed."""
        if logins:
            values = [
                {
                    "id": login.mailbox_id,
                    "workspace_id": login.workspace_id,
                    "email": login.email,
                    "host": login.host,
                    "port": login.port,
                    "username": login.username,
                    "password_encrypted": login.password_encrypted,
                    "security": login.security,
                    "settings_updated_at": login.updated_at,
                }
                for login in logins
            ]
            statement = insert(mailboxes).values(values)
            changed = {k: statement.excluded[k] for k in values[0] if k != "id"}
            await self.session.execute(
                statement.on_conflict_do_update(index_elements=[mailboxes.c.id], set_=changed)
            )
        await self.session.execute(
            delete(mailboxes).where(mailboxes.c.id.not_in([login.mailbox_id for login in logins]))
        )

    async def remove(self, mailbox_id: UUID) -> None:
        await self.session.execute(delete(mailboxes).where(mailboxes.c.id == mailbox_id))

    async def all(self) -> list[Mailbox]:
        rows = await self.session.execute(
            select(
                mailboxes.c.id,
                mailboxes.c.workspace_id,
                mailboxes.c.email,
                mailboxes.c.host,
                mailboxes.c.port,
                mailboxes.c.username,
                mailboxes.c.password_encrypted,
                mailboxes.c.security,
                mailboxes.c.settings_updated_at,
            ).order_by(mailboxes.c.id)
        )
        return [Mailbox(*row) for row in rows]

    async def hold(self, owner: str, ids: Sequence[UUID], lease: timedelta) -> set[UUID]:
        """Take or renew the lease of these mailboxes for `owner`; the ids it holds now (one whose lease
        another replica holds, still running, is left out)."""
        if not ids:
            return set()
        held = await self.session.scalars(
            update(mailboxes)
            .where(
                mailboxes.c.id.in_(ids),
                or_(
                    mailboxes.c.lease_owner.is_(None),
                    mailboxes.c.lease_owner == owner,
                    mailboxes.c.lease_until < func.now(),
                ),
            )
            .values(lease_owner=owner, lease_until=func.now() + lease)
            .returning(mailboxes.c.id)
        )
        return set(held)

    async def let_go(self, owner: str, ids: Sequence[UUID]) -> None:
        await self.session.execute(
            update(mailboxes)
            .where(mailboxes.c.id.in_(ids), mailboxes.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def position(self, mailbox_id: UUID) -> Position | None:
        row = (
            await self.session.execute(
                select(mailboxes.c.uidvalidity, mailboxes.c.last_uid).where(mailboxes.c.id == mailbox_id)
            )
        ).first()
        if row is None or row.uidvalidity is None:
            return None
        return Position(row.uidvalidity, row.last_uid)

    async def advance(self, mailbox_id: UUID, owner: str, position: Position) -> bool:
        """Record where reading stands, if `owner` still holds the mailbox (else nothing, and False)."""
        done = await self.session.execute(
            update(mailboxes)
            .where(mailboxes.c.id == mailbox_id, mailboxes.c.lease_owner == owner)
            .values(
                uidvalidity=position.uidvalidity, last_uid=position.last_uid, error=None, read_at=func.now()
            )
            .returning(mailboxes.c.id)
        )
        return done.first() is not None

    async def record_error(self, mailbox_id: UUID, owner: str, error: str) -> None:
        await self.session.execute(
            update(mailboxes)
            .where(mailboxes.c.id == mailbox_id, mailboxes.c.lease_owner == owner)
            .values(error=error[:1000])
        )

    # -- sends ----------------------------------------------------------------------------------------------

    async def record_sent(self, events: Sequence[EmailSent]) -> None:
        values = [
            {
                "message_id": e.message_id,
                "workspace_id": e.workspace_id,
                "campaign_id": e.campaign_id,
                "lead_id": e.lead_id,
                "step": e.step,
                "mailbox_id": e.mailbox_id,
                "recipient": None if e.recipient is None else e.recipient.lower(),
                "subject": e.subject_line,
                "sent_at": e.occurred_at,
                "conversation": conversation_for(e.message_id),
            }
            for e in events
        ]
        if values:
            await self.session.execute(insert(sent).values(values).on_conflict_do_nothing())

    async def was_sent(self, workspace_id: UUID, message_id: str) -> bool:
        """Whether `message_id` names a send of ours in this workspace."""
        found = await self.session.scalar(
            select(sent.c.message_id).where(
                sent.c.workspace_id == workspace_id, sent.c.message_id == message_id
            )
        )
        return found is not None

    async def link(
        self,
        workspace_id: UUID,
        named: Sequence[str],
        conversation: UUID | None,
        address: str | None,
    ) -> Link | None:
        """The send a message answers: the first of the Message-IDs it names that is a send of this
        workspace, else the lead's last send in the thread its Thread-Index's `conversation` names, else the
        last send to `address` (its sender, or a bounce's failed recipient)."""
        if named:
            rows = await self.session.execute(
                select(*_SEND).where(sent.c.workspace_id == workspace_id, sent.c.message_id.in_(named))
            )
            found = {row.message_id: Send(*row) for row in rows}
            for message_id in named:
                if message_id in found:
                    return Link(found[message_id], "message_id")
        if conversation is not None:
            send = await self._in_conversation(workspace_id, conversation)
            if send is not None:
                return Link(send, "thread_index")
        if address:
            row = (
                await self.session.execute(
                    select(*_SEND)
                    .where(and_(sent.c.workspace_id == workspace_id, sent.c.recipient == address.lower()))
                    .order_by(sent.c.sent_at.desc())
                    .limit(1)
                )
            ).first()
            if row is not None:
                return Link(Send(*row), "address")
        return None

    async def _in_conversation(self, workspace_id: UUID, conversation: UUID) -> Send | None:
        """The last send to the lead, in the campaign, whose thread `conversation` names.

        Every step of a thread carries its step 1's conversation, which is the one send whose own Message-ID
        gives it: found by it, then the lead's last send in that campaign (a reply to the thread answers the
        step it last received), looked up by its recipient's index."""
        first = (
            await self.session.execute(
                select(*_SEND)
                .where(sent.c.workspace_id == workspace_id, sent.c.conversation == conversation)
                .order_by(sent.c.sent_at)
                .limit(1)
            )
        ).first()
        if first is None:
            return None
        if first.recipient is None:
            return Send(*first)
        last = (
            await self.session.execute(
                select(*_SEND)
                .where(
                    sent.c.workspace_id == workspace_id,
                    sent.c.recipient == first.recipient,
                    sent.c.lead_id == first.lead_id,
                    sent.c.campaign_id == first.campaign_id,
                )
                .order_by(sent.c.sent_at.desc())
                .limit(1)
            )
        ).one()
        return Send(*last)

    # -- messages -------------------------------------------------------------------------------------------

    async def add_message(self, values: dict[str, object]) -> bool:
        """Store a message read; False when this mailbox already has one with its key (read before, under
        another UIDVALIDITY or by a replica that lost its lease)."""
        done = await self.session.execute(
            insert(messages).values(values).on_conflict_do_nothing().returning(messages.c.id)
        )
        return done.first() is not None

    # -- reading state -----------------------------------------------------------------------------------

    async def checked(self, mailbox_id: UUID, owner: str) -> None:
        """The server answered `owner` (connected and selected INBOX, or a wait and a look found nothing new):
        reading works, so the last error goes and `read_at` (shown as `checked_at`) is now. A healthy
        mailbox idling with no new mail moves no position, and `advance` alone would leave it looking stale."""
        await self.session.execute(
            update(mailboxes)
            .where(mailboxes.c.id == mailbox_id, mailboxes.c.lease_owner == owner)
            .values(error=None, read_at=func.now())
        )
