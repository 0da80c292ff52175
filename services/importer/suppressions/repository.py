"""Persistence of the suppression list (`importer.suppressions`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, Text, any_, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.importer.suppressions.domain import ListedSuppression, NewSuppression
from services.importer.suppressions.file import ListedAddress
from services.importer.tables import suppressions


class SuppressionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> SuppressionRepository:
        return cls(session)

    async def add(self, workspace_id: UUID, entry: NewSuppression) -> ListedSuppression:
        """Put the address on the list unless it is there; returns the entry as stored (the earlier one)."""
        await self.session.execute(
            insert(suppressions)
            .values(
                workspace_id=workspace_id,
                email_key=entry.key,
                email=entry.email,
                reason=entry.reason,
                source=entry.source,
            )
            .on_conflict_do_nothing()
        )
        row = (
            await self.session.execute(
                select(suppressions).where(
                    suppressions.c.workspace_id == workspace_id, suppressions.c.email_key == entry.key
                )
            )
        ).one()
        return _listed(row)

    async def add_many(
        self, workspace_id: UUID, addresses: Sequence[ListedAddress], reason: str, source: str
    ) -> int:
        """Add the addresses not on the list yet (one statement per 5,000); returns how many were new."""
        added = 0
        for start in range(0, len(addresses), 5000):
            batch = addresses[start : start + 5000]
            result = await self.session.execute(
                insert(suppressions)
                .values(
                    [
                        {
                            "workspace_id": workspace_id,
                            "email_key": a.key,
                            "email": a.email,
                            "reason": reason,
                            "source": source,
                        }
                        for a in batch
                    ]
                )
                .on_conflict_do_nothing()
                .returning(suppressions.c.email_key)
            )
            added += len(result.all())
        return added

    async def remove(self, workspace_id: UUID, key: str) -> bool:
        result = await self.session.execute(
            delete(suppressions).where(
                suppressions.c.workspace_id == workspace_id, suppressions.c.email_key == key
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def remove_bounced(self, workspace_id: UUID, key: str) -> bool:
        """Take the address off the list if a bounce put it there (an unsubscribe's or a person's entry
        stays)."""
        result = await self.session.execute(
            delete(suppressions).where(
                suppressions.c.workspace_id == workspace_id,
                suppressions.c.email_key == key,
                suppressions.c.source == "bounced",
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def suppressed_keys(self, workspace_id: UUID, keys: Sequence[str]) -> set[str]:
        """Those of `keys` on the workspace's list (one statement, by the primary key)."""
        if not keys:
            return set()
        found = await self.session.scalars(
            select(suppressions.c.email_key).where(
                suppressions.c.workspace_id == workspace_id,
                suppressions.c.email_key == any_(literal(list(keys), ARRAY(Text))),
            )
        )
        return set(found)

    async def page(
        self, workspace_id: UUID, limit: int, after: str | None, q: str | None
    ) -> tuple[list[ListedSuppression], int]:
        """Up to `limit` entries in key order after the key `after`, matching `q`; and how many match `q`."""
        filters = [suppressions.c.workspace_id == workspace_id]
        if q:
            filters.append(suppressions.c.email_key.contains(q.lower(), autoescape=True))
        total = await self.session.scalar(select(func.count()).select_from(suppressions).where(*filters)) or 0
        if after:
            filters.append(suppressions.c.email_key > after)
        rows = (
            await self.session.execute(
                select(suppressions).where(*filters).order_by(suppressions.c.email_key).limit(limit)
            )
        ).all()
        return [_listed(row) for row in rows], int(total)


def _listed(row: Any) -> ListedSuppression:
    return ListedSuppression(
        email=row.email, key=row.email_key, reason=row.reason, source=row.source, created_at=row.created_at
    )
