"""Commits ready chunks: several per transaction, in a handful of statements whatever their size.

The worker process has already parsed, checked and serialised every row (`chunks.Chunk`), so a
transaction here is: lock the import row and check its checkpoint, `COPY` the chunks' new leads into a
temporary stage, one `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING` into `importer.leads`, one
query classifying the (few) addresses that conflicted, `COPY` of every rejected row, the chunks'
LeadImported into the outbox and the checkpoint. Plain psycopg on the import's own connection: the
per-statement cost of an ORM session, paid a dozen times per chunk, was most of the importer's time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from services.importer.chunks import STAGE_COLUMNS, Chunk
from services.importer.domain import Outcome
from services.runtime.bulk import copy_text
from services.runtime.outbox import PreparedEvent

STAGE = "import_stage"
_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))

# Only the stage's columns, none of importer.leads' defaults or constraints: the INSERT applies those.
_CREATE_STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
    "SELECT {columns} FROM importer.leads WITH NO DATA"
).format(stage=sql.Identifier(STAGE), columns=_COLUMNS)

_COPY_STAGE = sql.SQL("COPY {stage} ({columns}) FROM STDIN (NULL '')").format(
    stage=sql.Identifier(STAGE), columns=_COLUMNS
)

# Suppressed addresses are never inserted; an address already in the campaign is skipped by the index, and
# so is the later of two rows of the batch with one address (rows are inserted in file order). The worker
# chose each lead's id (it is in the event already); only the row numbers of the new leads come back.
_INSERT_LEADS = sql.SQL(
    "INSERT INTO importer.leads ({columns}) SELECT {columns} FROM {stage} AS s "
    "WHERE NOT EXISTS (SELECT 1 FROM importer.suppressions AS x "
    "WHERE x.workspace_id = s.workspace_id AND x.email_key = s.email_key) "
    "ORDER BY s.source_row "
    "ON CONFLICT ON CONSTRAINT leads_campaign_email_key DO NOTHING "
    "RETURNING source_row"
).format(stage=sql.Identifier(STAGE), columns=_COLUMNS)

# Why each staged row that was not inserted was not, recorded as its rejection: its suppression, or the
# import that brought the address first (this one, earlier in the file; or another). Read committed: a
# concurrent import's lead that made the INSERT skip an address was committed before the INSERT went on,
# so this later statement sees it.
_REJECT_CONFLICTS = sql.SQL("""
INSERT INTO importer.rejected_rows (import_id, workspace_id, row, value, outcome, reason)
SELECT s.import_id, s.workspace_id, s.source_row, s.email,
       CASE WHEN x.reason IS NOT NULL THEN %(suppressed)s
            WHEN l.import_id = s.import_id THEN %(duplicate)s
            ELSE %(already)s END,
       CASE WHEN x.reason IS NOT NULL
                 THEN 'the address is on the workspace suppression list (' || x.reason || ')'
            WHEN l.import_id = s.import_id THEN 'the same address appears earlier in this import'
            ELSE 'the address is already in this campaign' END
FROM {stage} AS s
JOIN unnest(%(rows)s::integer[]) AS r(row) ON r.row = s.source_row
LEFT JOIN importer.suppressions AS x ON x.workspace_id = s.workspace_id AND x.email_key = s.email_key
LEFT JOIN importer.leads AS l ON l.campaign_id = s.campaign_id AND l.email_key = s.email_key
RETURNING outcome
""").format(stage=sql.Identifier(STAGE))

_COPY_REJECTIONS = (
    "COPY importer.rejected_rows (import_id, workspace_id, row, value, outcome, reason) FROM STDIN"
)

# `%b`: the payload goes as binary, not hex-escaped text (twice its size, encoded and decoded).
_INSERT_OUTBOX = (
    "INSERT INTO importer.outbox (event_id, subject, payload) VALUES (%s, %s, %b) "
    "ON CONFLICT (event_id) DO NOTHING"
)

_LOCK_IMPORT = "SELECT rows_done, cancel_requested FROM importer.imports WHERE id = %s FOR UPDATE"

_SAVE_CHECKPOINT = (
    "UPDATE importer.imports SET rows_done = %s, chunks_done = %s, counts = %s::jsonb, updated_at = now() "
    "WHERE id = %s"
)


class ImportSuperseded(Exception):
    """The import's checkpoint moved under this worker: another worker owns it now."""


@dataclass(frozen=True)
class Job:
    id: UUID
    workspace_id: UUID
    campaign_id: UUID


@dataclass
class StoredBatch:
    rows_done: int
    chunks_done: int
    # The LeadImported committed to the outbox.
    events: list[PreparedEvent]


class ChunkWriter:
    """Writes an import's chunks on `conn` (autocommit; each batch opens its own transaction)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], job: Job) -> None:
        self._conn = conn
        self._job = job

    async def prepare(self) -> None:
        await self._conn.execute(_CREATE_STAGE)

    async def store(
        self,
        chunks: Sequence[Chunk],
        *,
        rows_done: int,
        chunks_done: int,
        counts: dict[str, int],
    ) -> StoredBatch | None:
        """Commit `chunks` (consecutive, the first numbered `chunks_done`) after the checkpoint `rows_done`;
        `counts` is updated in place. None when a cancel was requested (nothing of these chunks is stored)."""
        job = self._job
        tally = dict(counts)
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute(_LOCK_IMPORT, (job.id,))
            row = await cur.fetchone()
            if row is None:
                raise ImportSuperseded("the import no longer exists")
            checkpoint, cancel_requested = row
            if cancel_requested:
                return None
            if checkpoint != rows_done:
                raise ImportSuperseded(f"checkpoint at row {checkpoint}, this worker at row {rows_done}")

            if chunks[0].number != chunks_done:
                raise ImportSuperseded(f"chunk {chunks[0].number} does not follow chunk {chunks_done - 1}")
            inserted = await self._insert_leads(cur, chunks)
            rejections = [r for chunk in chunks for r in chunk.rejections]
            for rejection in rejections:
                tally[rejection[2]] += 1
            if rejections:
                await self._copy_rejections(cur, rejections)
            conflicting = [row for chunk in chunks for row in chunk.rows if row not in inserted]
            if conflicting:
                await cur.execute(
                    _REJECT_CONFLICTS,
                    {
                        "rows": conflicting,
                        "suppressed": Outcome.SUPPRESSED.value,
                        "duplicate": Outcome.DUPLICATE_IN_FILE.value,
                        "already": Outcome.ALREADY_IN_CAMPAIGN.value,
                    },
                )
                for (outcome,) in await cur.fetchall():
                    tally[outcome] += 1

            events: list[PreparedEvent] = []
            for chunk in chunks:
                if chunk.event is None:
                    continue
                keep = [row in inserted for row in chunk.rows]
                payload = chunk.event.without(keep)
                if payload is not None:
                    events.append(PreparedEvent(chunk.event.event_id, chunk.event.subject, payload))
                    tally[Outcome.IMPORTED] += sum(keep)
            if events:
                await cur.executemany(_INSERT_OUTBOX, events)

            stored = StoredBatch(chunks[-1].last_row, chunks[-1].number + 1, events)
            await cur.execute(
                _SAVE_CHECKPOINT, (stored.rows_done, stored.chunks_done, json.dumps(tally), job.id)
            )
        counts.update(tally)
        return stored

    async def _insert_leads(self, cur: psycopg.AsyncCursor[Any], chunks: Sequence[Chunk]) -> set[int]:
        """The rows whose leads were inserted."""
        staged = [chunk.staged for chunk in chunks if chunk.rows]
        if not staged:
            return set()
        async with cur.copy(_COPY_STAGE) as copy:
            for block in staged:
                await copy.write(block)
        await cur.execute(_INSERT_LEADS)
        return {row for (row,) in await cur.fetchall()}

    async def _copy_rejections(
        self, cur: psycopg.AsyncCursor[Any], rejections: list[tuple[int, str, str, str]]
    ) -> None:
        job = self._job
        payload = copy_text(
            (job.id, job.workspace_id, row, value, outcome, reason)
            for row, value, outcome, reason in rejections
        )
        async with cur.copy(_COPY_REJECTIONS) as copy:
            await copy.write(payload)
