"""Persistence of sender mailboxes (schema `mailer`). Every query names the workspace but `with_imap`, the
inbox's list across all workspaces (`list_imap_logins`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.mailer.domain import Mailbox, Security, Server
from services.mailer.tables import mailboxes


class MailboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> MailboxRepository:
        return cls(session)

    async def get(self, workspace_id: UUID, mailbox_id: UUID) -> Mailbox | None:
        """The workspace's mailbox; None for an unknown id or another workspace's."""
        row = (
            await self.session.execute(
                select(mailboxes).where(
                    mailboxes.c.id == mailbox_id, mailboxes.c.workspace_id == workspace_id
                )
            )
        ).first()
        return None if row is None else _mailbox_of(row)

    async def page(self, workspace_id: UUID, limit: int, after: UUID | None) -> list[Mailbox]:
        query = select(mailboxes).where(mailboxes.c.workspace_id == workspace_id)
        if after is not None:
            query = query.where(mailboxes.c.id > after)
        rows = await self.session.execute(query.order_by(mailboxes.c.id).limit(limit))
        return [_mailbox_of(r) for r in rows]

    async def with_imap(self, limit: int, after: UUID | None) -> list[Mailbox]:
        """The mailboxes of every workspace that have IMAP settings, by id (a page after `after`). Along the
        primary key, filtered: a sender mailbox has IMAP settings as a rule, so a page reads few more rows
        than it returns, and no index of its own is needed."""
        query = select(mailboxes).where(mailboxes.c.imap_host.is_not(None))
        if after is not None:
            query = query.where(mailboxes.c.id > after)
        rows = await self.session.execute(query.order_by(mailboxes.c.id).limit(limit))
        return [_mailbox_of(r) for r in rows]

    async def add(self, mailbox: Mailbox) -> bool:
        """Store a new mailbox; False if its id is taken (nothing is written then)."""
        inserted = await self.session.execute(
            insert(mailboxes)
            .values(
                id=mailbox.id,
                workspace_id=mailbox.workspace_id,
                created_at=mailbox.created_at,
                **_values(mailbox),
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(mailboxes.c.id)
        )
        return inserted.first() is not None

    async def save(self, mailbox: Mailbox) -> None:
        await self.session.execute(
            update(mailboxes)
            .where(mailboxes.c.id == mailbox.id, mailboxes.c.workspace_id == mailbox.workspace_id)
            .values(**_values(mailbox))
        )

    async def remove(self, workspace_id: UUID, mailbox_id: UUID) -> bool:
        removed = await self.session.execute(
            delete(mailboxes)
            .where(mailboxes.c.id == mailbox_id, mailboxes.c.workspace_id == workspace_id)
            .returning(mailboxes.c.id)
        )
        return removed.first() is not None


def _values(mailbox: Mailbox) -> dict[str, Any]:
    imap = mailbox.imap
    return {
        "email": mailbox.email,
        "name": mailbox.name,
        "smtp_host": mailbox.smtp.host,
        "smtp_port": mailbox.smtp.port,
        "smtp_username": mailbox.smtp.username,
        "smtp_password_encrypted": mailbox.smtp.password_encrypted,
        "smtp_security": mailbox.smtp.security.value,
        "imap_host": None if imap is None else imap.host,
        "imap_port": None if imap is None else imap.port,
        "imap_username": None if imap is None else imap.username,
        "imap_password_encrypted": None if imap is None else imap.password_encrypted,
        "imap_security": None if imap is None else imap.security.value,
        "daily_limit": mailbox.daily_limit,
        "min_gap_seconds": mailbox.min_gap_seconds,
        "updated_at": mailbox.updated_at,
    }


def _mailbox_of(row: Any) -> Mailbox:
    smtp = Server(
        row.smtp_host,
        row.smtp_port,
        row.smtp_username,
        row.smtp_password_encrypted,
        Security(row.smtp_security),
    )
    imap = (
        None
        if row.imap_host is None
        else Server(
            row.imap_host,
            row.imap_port,
            row.imap_username or "",
            row.imap_password_encrypted or "",
            Security(row.imap_security),
        )
    )
    return Mailbox(
        id=row.id,
        workspace_id=row.workspace_id,
        email=row.email,
        name=row.name,
        smtp=smtp,
        imap=imap,
        daily_limit=row.daily_limit,
        min_gap_seconds=row.min_gap_seconds,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
