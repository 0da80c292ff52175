"""Persistence of imports and campaign leads (schema `importer`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import ImportEndState, ImportState
from services.importer.tables import imports, leads, rejected_rows


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ImportRepository:
        return cls(session)

    async def create(self, values: dict[str, Any]) -> None:
        await self.session.execute(
            insert(imports).values(**values).on_conflict_do_nothing(index_elements=["id"])
        )

    async def get(self, import_id: UUID) -> Row[Any] | None:
        return (await self.session.execute(select(imports).where(imports.c.id == import_id))).first()

    async def newest_of_campaign(
        self, workspace_id: UUID, campaign_id: UUID, limit: int, after: tuple[datetime, UUID] | None
    ) -> list[Row[Any]]:
        """A campaign's imports, newest first (ties by id), from just after `after` (created_at, id)."""
        conditions = [imports.c.campaign_id == campaign_id, imports.c.workspace_id == workspace_id]
        if after is not None:
            conditions.append(tuple_(imports.c.created_at, imports.c.id) < tuple_(*after))
        statement = (
            select(imports)
            .where(*conditions)
            .order_by(imports.c.created_at.desc(), imports.c.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(statement)).all())

    async def running_ids(self) -> list[UUID]:
        rows = await self.session.execute(select(imports.c.id).where(imports.c.state == ImportState.RUNNING))
        return list(rows.scalars())

    async def save_progress(
        self, import_id: UUID, *, rows_done: int, chunks_done: int, counts: dict[str, int]
    ) -> None:
        await self.session.execute(
            update(imports)
            .where(imports.c.id == import_id)
            .values(rows_done=rows_done, chunks_done=chunks_done, counts=counts, updated_at=func.now())
        )

    async def save_total(self, import_id: UUID, total_rows: int) -> None:
        await self.session.execute(
            update(imports).where(imports.c.id == import_id).values(total_rows=total_rows)
        )

    async def lock_and_check_cancelled(self, import_id: UUID) -> bool:
        """Lock the import row for this chunk's transaction; True if a cancel was requested."""
        cancelled = await self.session.scalar(
            select(imports.c.cancel_requested).where(imports.c.id == import_id).with_for_update()
        )
        return bool(cancelled)

    async def request_cancel(self, import_id: UUID) -> None:
        await self.session.execute(
            update(imports)
            .where(imports.c.id == import_id, imports.c.state == ImportState.RUNNING)
            .values(cancel_requested=True, updated_at=func.now())
        )

    async def finish(
        self,
        import_id: UUID,
        *,
        state: ImportEndState,
        error: str | None,
        counts: dict[str, int],
        report_object: str | None,
    ) -> None:
        await self.session.execute(
            update(imports)
            .where(imports.c.id == import_id)
            .values(
                state=state,
                error=error,
                counts=counts,
                report_object=report_object,
                updated_at=func.now(),
                finished_at=func.now(),
            )
        )

    async def rejections(self, import_id: UUID) -> AsyncIterator[Any]:
        result = await self.session.stream(
            select(
                rejected_rows.c.row, rejected_rows.c.value, rejected_rows.c.outcome, rejected_rows.c.reason
            )
            .where(rejected_rows.c.import_id == import_id)
            .order_by(rejected_rows.c.row)
            .execution_options(yield_per=2000)
        )
        async for row in result:
            yield row

    async def forget_leads(self, workspace_id: UUID, campaign_id: UUID, lead_ids: Sequence[UUID]) -> None:
        """Drop leads from their campaign's dedupe set (`importer.leads`), so their addresses import again."""
        await self.session.execute(
            delete(leads).where(
                leads.c.id.in_(lead_ids),
                leads.c.workspace_id == workspace_id,
                leads.c.campaign_id == campaign_id,
            )
        )
