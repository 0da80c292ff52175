"""Runs CSV imports chunk by chunk; each chunk commits its leads, rejections, checkpoint and event together.

Only one worker runs a given import: it holds a PostgreSQL advisory lock on a dedicated connection for the
whole job. A worker that dies (even by `kill -9`) loses its connection and so its lock; a surviving or
restarted worker then finds the import still `running` and resumes after its last committed chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import IO, Any
from uuid import UUID

import psycopg
import structlog
from nats.js.errors import NotFoundError

from contracts import ImportCompleted, ImportProgress, LeadImported, subjects
from services.importer.csv_source import CsvStream, open_csv, ragged_reason
from services.importer.domain import (
    ChunkPlan,
    ImportInputError,
    Outcome,
    Rejection,
    empty_counts,
    plan_chunk,
    validate_mapping,
)
from services.importer.repository import ImportRepository
from services.importer.tables import outbox
from services.runtime.db import psycopg_conninfo
from services.runtime.outbox import add_to_outbox
from services.runtime.service import Service
from services.runtime.streams import UPLOADS_BUCKET

log = structlog.get_logger(__name__)

CHUNK_NAMESPACE = uuid.UUID("6f1d7a52-4c1e-4f7e-9a55-2b3c1d0e9f10")
RESCAN_SECONDS = 10.0
PROGRESS_INTERVAL_SECONDS = 0.5


def chunk_event_id(import_id: UUID, chunk: int) -> UUID:
    """Deterministic, so a chunk redone after a crash publishes under the same `Nats-Msg-Id`."""
    return uuid.uuid5(CHUNK_NAMESPACE, f"{import_id}:{chunk}")


def completion_event_id(import_id: UUID) -> UUID:
    return uuid.uuid5(CHUNK_NAMESPACE, f"{import_id}:completed")


class ImportRunner:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.active: dict[UUID, asyncio.Task[None]] = {}

    async def start(self) -> None:
        self.service.spawn(self._rescan_forever(), "importer-rescan")

    async def _rescan_forever(self) -> None:
        while True:
            try:
                await self.resume_running()
            except Exception as exc:
                log.warning("rescan of running imports failed", error=repr(exc))
            await asyncio.sleep(RESCAN_SECONDS)

    async def resume_running(self) -> None:
        async with self.service.sessions() as session:
            ids = await ImportRepository.from_session(session).running_ids()
        for import_id in ids:
            self.launch(import_id)

    def launch(self, import_id: UUID) -> None:
        if import_id in self.active:
            return
        task = self.service.spawn(self.run(import_id), f"import-{import_id}")
        self.active[import_id] = task
        task.add_done_callback(lambda _t: self.active.pop(import_id, None))

    async def run(self, import_id: UUID) -> None:
        conninfo = psycopg_conninfo(self.service.database_url)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as lock_conn:
            cur = await lock_conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"import:{import_id}",)
            )
            row = await cur.fetchone()
            if not row or not row[0]:
                return  # another worker owns it
            await self._run_locked(import_id)

    async def _run_locked(self, import_id: UUID) -> None:
        async with self.service.sessions() as session:
            job = await ImportRepository.from_session(session).get(import_id)
        if job is None or job.state != "running":
            return
        bound = log.bind(import_id=str(import_id), workspace_id=str(job.workspace_id))
        bound.info("import started" if job.rows_done == 0 else "import resumed", rows_done=job.rows_done)
        counts: dict[str, int] = {**empty_counts(), **job.counts}
        stream: CsvStream | None = None
        with tempfile.TemporaryFile() as spool:
            try:
                await self._download(job.object_name, spool)
                stream = open_csv(spool)
                mapping = validate_mapping(job.mapping, stream.headers)
                await self._consume(job, stream, mapping, counts)
            except (ImportInputError, UnicodeDecodeError, csv.Error) as exc:
                message = _explain(exc, stream)
                bound.info("import failed on its input", error=message)
                await self._finish(job, "failed", message, counts)
                return
            except NotFoundError:
                await self._finish(job, "failed", "The uploaded file is no longer available.", counts)
                return
        await self._finish(job, "completed", None, counts)
        bound.info("import completed", **counts)

    async def _download(self, object_name: str, spool: IO[bytes]) -> None:
        store = await self.service.js.object_store(UPLOADS_BUCKET)
        await store.get(object_name, writeinto=spool)  # type: ignore[arg-type]
        spool.flush()
        spool.seek(0)

    async def _consume(
        self, job: Any, stream: CsvStream, mapping: dict[str, str], counts: dict[str, int]
    ) -> None:
        chunk_rows = self.service.settings.import_chunk_rows
        rows = stream.rows(skip=job.rows_done)
        rows_done, chunk = job.rows_done, job.chunks_done
        last_progress = 0.0

        def read_ahead() -> asyncio.Task[tuple[list[int], ChunkPlan, int]]:
            # Parsing the next chunk overlaps with writing this one (the thread waits on no lock we hold).
            return asyncio.ensure_future(asyncio.to_thread(_next_chunk, rows, chunk_rows, mapping, stream))

        pending = read_ahead()
        try:
            while True:
                batch, plan, bytes_read = await pending
                if not batch:
                    break
                pending = read_ahead()
                rows_done = batch[-1]
                chunk = await self._store(job, chunk, plan, rows_done, bytes_read, counts)
                now = time.monotonic()
                if now - last_progress >= PROGRESS_INTERVAL_SECONDS:
                    last_progress = now
                    await self._progress(job, bytes_read, rows_done, counts)
        finally:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending

    async def _store(
        self, job: Any, chunk: int, plan: ChunkPlan, rows_done: int, bytes_read: int, counts: dict[str, int]
    ) -> int:
        """Commit one chunk: leads, rejections, its LeadImported and the checkpoint; returns the next chunk."""
        async with self.service.sessions() as session, session.begin():
            repo = ImportRepository.from_session(session)
            result = await repo.store_chunk(
                workspace_id=job.workspace_id,
                campaign_id=job.campaign_id,
                import_id=job.id,
                candidates=plan.candidates,
                rejections=plan.rejections,
            )
            counts[Outcome.IMPORTED] += len(result.imported)
            for rejection in result.rejections:
                counts[rejection.outcome] += 1
            if result.imported:
                await add_to_outbox(
                    session,
                    outbox,
                    [
                        LeadImported(
                            event_id=chunk_event_id(job.id, chunk),
                            workspace_id=job.workspace_id,
                            campaign_id=job.campaign_id,
                            import_id=job.id,
                            chunk=chunk,
                            leads=result.imported,
                        )
                    ],
                )
            chunk += 1
            await repo.save_progress(
                job.id,
                rows_done=rows_done,
                chunks_done=chunk,
                bytes_done=bytes_read,
                counts=counts,
            )
        return chunk

    async def _progress(self, job: Any, bytes_read: int, rows_done: int, counts: dict[str, int]) -> None:
        percent = min(100.0, 100.0 * bytes_read / job.total_bytes) if job.total_bytes else 0.0
        event = ImportProgress(
            workspace_id=job.workspace_id,
            campaign_id=job.campaign_id,
            import_id=job.id,
            percent=round(percent, 2),
            rows_done=rows_done,
            counts=dict(counts),
        )
        # Progress is ephemeral (core NATS): a lost update is replaced by the next one.
        with contextlib.suppress(Exception):
            await self.service.broker.publish(event.to_bytes(), subjects.import_progress_subject(job.id))

    async def _finish(self, job: Any, state: str, error: str | None, counts: dict[str, int]) -> None:
        async with self.service.sessions() as session, session.begin():
            await ImportRepository.from_session(session).finish(
                job.id, state=state, error=error, counts=counts
            )
            await add_to_outbox(
                session,
                outbox,
                [
                    ImportCompleted(
                        event_id=completion_event_id(job.id),
                        workspace_id=job.workspace_id,
                        campaign_id=job.campaign_id,
                        import_id=job.id,
                        state=state,
                        counts=counts,
                        error=error,
                    )
                ],
            )
        await self._progress(job, job.total_bytes, 0, counts)
        with contextlib.suppress(Exception):
            store = await self.service.js.object_store(UPLOADS_BUCKET)
            await store.delete(job.object_name)


def _next_chunk(
    rows: Iterator[tuple[int, dict[str, str]]], size: int, mapping: dict[str, str], stream: CsvStream
) -> tuple[list[int], ChunkPlan, int]:
    """Read and plan the next chunk (blocking: parsing runs in a worker thread)."""
    batch = list(itertools.islice(rows, size))
    mappable = [(n, row) for n, row in batch if ragged_reason(row) is None]
    plan = plan_chunk(mappable, mapping)
    for n, row in batch:
        reason = ragged_reason(row)
        if reason is not None:
            plan.rejections.append(Rejection(n, "", Outcome.REJECTED, reason))
    return [n for n, _ in batch], plan, stream.bytes_read


def _explain(exc: Exception, stream: CsvStream | None) -> str:
    if isinstance(exc, UnicodeDecodeError):
        encoding = stream.encoding if stream else exc.encoding
        return (
            f"The file could not be read as {encoding}: an invalid byte sequence was found. "
            "Save it as UTF-8 (or tell us its encoding) and import it again."
        )
    if isinstance(exc, csv.Error):
        return f"The file is not a well-formed CSV: {exc}."
    return str(exc)
