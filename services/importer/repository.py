"""Persistence of imports and campaign leads (schema `importer`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import sql
from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.importer.domain import Outcome
from services.importer.tables import imports, leads, rejected_rows, suppressions
from services.importer.worker import OPTIONAL_FIELDS, ChunkCandidate, splice_lead_id
from services.runtime.bulk import copy_insert


@dataclass
class ChunkResult:
    # Each new lead as its ImportedLead JSON object, already serialised (see `worker.lead_fragment`): the
    # chunk's LeadImported is assembled from these rather than through a thousand pydantic models.
    imported: list[str]
    # (row, value, outcome, reason) of every row of the chunk not imported.
    rejections: list[tuple[int, str, str, str]]


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

    async def running_ids(self) -> list[UUID]:
        rows = await self.session.execute(select(imports.c.id).where(imports.c.state == "running"))
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
            .where(imports.c.id == import_id, imports.c.state == "running")
            .values(cancel_requested=True, updated_at=func.now())
        )

    async def finish(
        self,
        import_id: UUID,
        *,
        state: str,
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

    async def store_chunk(
        self,
        *,
        workspace_id: UUID,
        campaign_id: UUID,
        import_id: UUID,
        candidates: Sequence[ChunkCandidate],
        rejections: Sequence[tuple[int, str, str, str]],
        staged: bytes,
    ) -> ChunkResult:
        """Insert new leads; an address already in the campaign becomes a rejection with its reason.

        `staged` is `worker.staged_leads(...)` of the same candidates, built by the import's worker process.
        """
        imported: list[str] = []
        rejected = list(rejections)
        if candidates:
            inserted = await self._copy_new_leads(staged)
            conflicts = [c for c in candidates if c.key not in inserted]
            suppressed = await self._suppressed(workspace_id, [c.key for c in conflicts])
            owner = await self._import_of_existing(
                campaign_id, [c.key for c in conflicts if c.key not in suppressed]
            )
            for c in conflicts:
                if c.key in suppressed:
                    rejected.append(
                        (
                            c.row,
                            c.email,
                            Outcome.SUPPRESSED.value,
                            f"the address is on the workspace suppression list ({suppressed[c.key]})",
                        )
                    )
                elif owner.get(c.key) == import_id:
                    rejected.append(
                        (
                            c.row,
                            c.email,
                            Outcome.DUPLICATE_IN_FILE.value,
                            "the same address appears earlier in this import",
                        )
                    )
                else:
                    rejected.append(
                        (
                            c.row,
                            c.email,
                            Outcome.ALREADY_IN_CAMPAIGN.value,
                            "the address is already in this campaign",
                        )
                    )
            # The worker serialised each lead without its id; only the id returned by the INSERT is added.
            imported = [splice_lead_id(c.fragment, inserted[c.key]) for c in candidates if c.key in inserted]
        if rejected:
            await self.session.execute(
                insert(rejected_rows).on_conflict_do_nothing(),
                [
                    {
                        "import_id": import_id,
                        "workspace_id": workspace_id,
                        "row": row,
                        "value": value,
                        "outcome": outcome,
                        "reason": reason,
                    }
                    for row, value, outcome, reason in rejected
                ],
            )
        return ChunkResult(imported, rejected)

    async def _copy_new_leads(self, staged: bytes) -> dict[str, str]:
        """Insert the chunk's new leads in one statement, skipping suppressed and known addresses."""
        inserted = await copy_insert(
            self.session,
            leads,
            _STAGE_COLUMNS,
            staged,
            where=sql.SQL(
                "NOT EXISTS (SELECT 1 FROM importer.suppressions AS x "
                "WHERE x.workspace_id = s.workspace_id AND x.email_key = s.email_key)"
            ),
            conflict_target=sql.SQL("ON CONSTRAINT leads_campaign_email_key"),
            # As text: the ids are only spliced into the event's JSON.
            returning=("email_key", sql.SQL("id::text")),
        )
        return {key: lead_id for key, lead_id in inserted}

    async def _suppressed(self, workspace_id: UUID, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        rows = await self.session.execute(
            select(suppressions.c.email_key, suppressions.c.reason).where(
                suppressions.c.workspace_id == workspace_id, suppressions.c.email_key.in_(keys)
            )
        )
        return {key: reason for key, reason in rows}

    async def _import_of_existing(self, campaign_id: UUID, keys: list[str]) -> dict[str, UUID]:
        if not keys:
            return {}
        rows = await self.session.execute(
            select(leads.c.email_key, leads.c.import_id).where(
                leads.c.campaign_id == campaign_id, leads.c.email_key.in_(keys)
            )
        )
        return {key: import_id for key, import_id in rows}


_STAGE_COLUMNS = (
    "workspace_id",
    "campaign_id",
    "import_id",
    "email",
    "email_key",
    "custom",
    "source_row",
    *OPTIONAL_FIELDS,
)
