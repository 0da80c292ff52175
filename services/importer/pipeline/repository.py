"""Persistence of pipeline leads (`importer.pipeline_leads`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import PipelineFilter
from services.importer.directory.queries import fetch
from services.importer.pipeline.queries import FIELDS, count_query, page_query
from services.importer.tables import pipeline_leads


class PipelineRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PipelineRepository:
        return cls(session)

    async def upsert(self, rows: Iterable[dict[str, Any]]) -> list[tuple[UUID, str | None, bool]]:
        """Store the rows, an address already in the workspace's pipeline updating its lead; returns each
        stored lead's id, email key and whether it is new."""
        values = list(rows)
        if not values:
            return []
        inserted = insert(pipeline_leads).values(values)
        statement = inserted.on_conflict_do_update(
            index_elements=["workspace_id", "email_key"],
            index_where=pipeline_leads.c.email_key.isnot(None),
            set_={**{name: inserted.excluded[name] for name in FIELDS}, "updated_at": func.now()},
        ).returning(
            pipeline_leads.c.id,
            pipeline_leads.c.email_key,
            # Only a new row has both times from this transaction's now().
            (pipeline_leads.c.created_at == pipeline_leads.c.updated_at).label("created"),
        )
        return [(row.id, row.email_key, row.created) for row in await self.session.execute(statement)]

    async def count(self, workspace_id: UUID, f: PipelineFilter) -> int:
        counted = await fetch(self.session, *count_query(workspace_id, f))
        return int(counted[0]["n"])

    async def page(
        self, workspace_id: UUID, f: PipelineFilter, after: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` leads matching `f` after position `after`, each with its position (`seq`)."""
        return await fetch(self.session, *page_query(workspace_id, f, after, limit))
