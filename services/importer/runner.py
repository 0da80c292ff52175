"""Runs imports chunk by chunk; each chunk commits its leads, rejections, checkpoint and event together.

Only one worker runs a given import: it holds a PostgreSQL advisory lock on a dedicated connection for the
whole job. A worker that dies (even by `kill -9`) loses its connection and so its lock; a surviving or
restarted worker then finds the import still `running` and resumes after its last committed chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import IO, Any
from uuid import UUID

import psycopg
import structlog
from nats.js.errors import NotFoundError

from contracts import ImportCompleted, ImportProgress, LeadImported
from services.importer.domain import ImportInputError, Outcome, empty_counts, spreadsheet_safe
from services.importer.repository import ImportRepository
from services.importer.sources import CsvFileSource, Source
from services.importer.tables import outbox
from services.importer.worker import Chunk, ChunkWorker
from services.runtime.db import psycopg_conninfo
from services.runtime.outbox import PreparedEvent, add_to_outbox
from services.runtime.service import Service
from services.runtime.streams import UPLOADS_BUCKET

log = structlog.get_logger(__name__)

CHUNK_NAMESPACE = uuid.UUID("6f1d7a52-4c1e-4f7e-9a55-2b3c1d0e9f10")
RESCAN_SECONDS = 10.0
# ImportProgress goes out at least every 1% or every 500 ms, whichever comes first.
PROGRESS_SECONDS = 0.5
PROGRESS_PERCENT = 1.0


def chunk_event_id(import_id: UUID, chunk: int) -> UUID:
    """Deterministic, so a chunk redone after a crash publishes under the same `Nats-Msg-Id`."""
    return uuid.uuid5(CHUNK_NAMESPACE, f"{import_id}:{chunk}")


def completion_event_id(import_id: UUID) -> UUID:
    return uuid.uuid5(CHUNK_NAMESPACE, f"{import_id}:completed")


def lead_imported(job: Any, chunk: int, leads: list[str]) -> PreparedEvent:
    """The chunk's LeadImported, assembled from the leads' serialised JSON objects (a test holds it to
    the model)."""
    envelope = LeadImported.model_construct(
        event_id=chunk_event_id(job.id, chunk),
        workspace_id=job.workspace_id,
        campaign_id=job.campaign_id,
        import_id=job.id,
        chunk=chunk,
        leads=[],
    )
    document = envelope.model_dump(mode="json")
    del document["leads"]
    head = json.dumps(document, ensure_ascii=False)
    payload = f'{head[:-1]}, "leads": [{", ".join(leads)}]}}'
    return PreparedEvent(envelope.event_id, envelope.subject, payload.encode())


def report_object_name(import_id: UUID) -> str:
    return f"report-{import_id}.csv"


def percent_of(rows_done: int, total_rows: int | None) -> float:
    if not total_rows:
        return 0.0
    return round(min(100.0, 100.0 * rows_done / total_rows), 2)


# Builds the source of an import from the database's libpq URL and the import's row.
SourceBuilder = Callable[[str, Any], Source]


class SourceFactory:
    """Builds the `Source` of an import; directory and pipeline imports register their own kinds."""

    def __init__(self) -> None:
        self.query_sources: dict[str, SourceBuilder] = {}

    def register(self, kind: str, build: SourceBuilder) -> None:
        """`build(conninfo, job) -> Source` for imports whose `source` column is `kind`."""
        self.query_sources[kind] = build


class ImportRunner:
    def __init__(self, service: Service, sources: SourceFactory | None = None) -> None:
        self.service = service
        self.sources = sources or SourceFactory()
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
            with structlog.contextvars.bound_contextvars(import_id=str(import_id)):
                await self._run_locked(import_id)

    async def _run_locked(self, import_id: UUID) -> None:
        async with self.service.sessions() as session:
            job = await ImportRepository.from_session(session).get(import_id)
        if job is None or job.state != "running":
            return
        counts: dict[str, int] = {**empty_counts(), **job.counts}
        if job.cancel_requested:
            await self._finish(job, "cancelled", None, counts)
            return
        log.info("import started" if job.rows_done == 0 else "import resumed", rows_done=job.rows_done)
        with contextlib.ExitStack() as resources:
            try:
                source = await self._source_for(job, resources)
                worker = ChunkWorker.start(
                    source,
                    job.rows_done,
                    self.service.settings.import_chunk_rows,
                    (job.workspace_id, job.campaign_id, job.id),
                )
                resources.callback(worker.close)
                state = await self._consume(job, worker, counts)
            except (ImportInputError, UnicodeDecodeError, csv.Error) as exc:
                message = explain(exc)
                log.info("import failed on its input", error=message)
                await self._finish(job, "failed", message, counts)
                return
            except NotFoundError:
                await self._finish(job, "failed", "The uploaded file is no longer available.", counts)
                return
        await self._finish(job, state, None, counts)
        log.info(f"import {state}", **counts)

    async def _source_for(self, job: Any, resources: contextlib.ExitStack) -> Source:
        if job.source == "csv":
            # Named: the worker process opens it by path.
            spool = resources.enter_context(
                tempfile.NamedTemporaryFile(prefix="import-", suffix=".csv")  # noqa: SIM115 (closed by the stack)
            )
            await self._download(job.object_name, spool)
            return CsvFileSource(spool.name, dict(job.mapping))
        build = self.sources.query_sources.get(job.source)
        if build is None:
            raise ImportInputError(f"Unknown import source {job.source!r}.")
        return build(psycopg_conninfo(self.service.database_url), job)

    async def _download(self, object_name: str, spool: IO[bytes]) -> None:
        store = await self.service.js.object_store(UPLOADS_BUCKET)
        await store.get(object_name, writeinto=spool)  # type: ignore[arg-type]
        spool.flush()
        spool.seek(0)

    async def _save_total(self, import_id: UUID, total_rows: int) -> None:
        async with self.service.sessions() as session, session.begin():
            await ImportRepository.from_session(session).save_total(import_id, total_rows)

    async def _consume(self, job: Any, worker: ChunkWorker, counts: dict[str, int]) -> str:
        """Import every remaining row; returns the final state (`completed` or `cancelled`).

        The worker process reads, plans and stages the next chunks while this one is written.
        """
        rows_done, chunk = job.rows_done, job.chunks_done
        progress = _ProgressClock()
        abandoned = threading.Event()

        async def receive() -> tuple[Any, ...]:
            message = await asyncio.to_thread(worker.receive, abandoned)
            if message[0] == "error":
                raise message[1]
            return message

        try:
            _, total_rows = await receive()
            if job.total_rows != total_rows:
                await self._save_total(job.id, total_rows)
            while True:
                message = await receive()
                if message[0] == "done":
                    return "completed"
                ready: Chunk = message[1]
                rows_done = ready.last_row
                next_chunk = await self._store(job, chunk, ready, counts)
                if next_chunk is None:
                    return "cancelled"
                chunk = next_chunk
                percent = percent_of(rows_done, total_rows)
                if progress.due(percent):
                    await self._progress(job, percent, rows_done, counts)
        finally:
            abandoned.set()

    async def _store(self, job: Any, chunk: int, ready: Chunk, counts: dict[str, int]) -> int | None:
        """Commit one chunk: leads, rejections, its LeadImported and the checkpoint.

        Returns the next chunk number, or None when the import was cancelled (nothing of this chunk stored).
        """
        async with self.service.sessions() as session, session.begin():
            repo = ImportRepository.from_session(session)
            if await repo.lock_and_check_cancelled(job.id):
                return None
            result = await repo.store_chunk(
                workspace_id=job.workspace_id,
                campaign_id=job.campaign_id,
                import_id=job.id,
                candidates=ready.candidates,
                rejections=ready.rejections,
                staged=ready.staged,
            )
            counts[Outcome.IMPORTED] += len(result.imported)
            for rejection in result.rejections:
                counts[rejection[2]] += 1
            if result.imported:
                await add_to_outbox(session, outbox, [lead_imported(job, chunk, result.imported)])
            chunk += 1
            await repo.save_progress(job.id, rows_done=ready.last_row, chunks_done=chunk, counts=counts)
        return chunk

    async def _progress(self, job: Any, percent: float, rows_done: int, counts: dict[str, int]) -> None:
        event = ImportProgress(
            workspace_id=job.workspace_id,
            campaign_id=job.campaign_id,
            import_id=job.id,
            percent=percent,
            rows_done=rows_done,
            counts=dict(counts),
        )
        # Progress is ephemeral (core NATS): a lost update is replaced by the next one.
        with contextlib.suppress(Exception):
            await self.service.broker.publish(event.to_bytes(), event.subject)

    async def _finish(self, job: Any, state: str, error: str | None, counts: dict[str, int]) -> None:
        report = await self._write_report(job.id)
        async with self.service.sessions() as session, session.begin():
            await ImportRepository.from_session(session).finish(
                job.id, state=state, error=error, counts=counts, report_object=report
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
        if job.object_name:
            with contextlib.suppress(Exception):
                store = await self.service.js.object_store(UPLOADS_BUCKET)
                await store.delete(job.object_name)

    async def _write_report(self, import_id: UUID) -> str:
        """Every row not imported, as CSV, into the object store (the gateway streams it from there)."""
        name = report_object_name(import_id)
        with tempfile.TemporaryFile(mode="w+b") as spool:
            text = _TextSink(spool)
            writer = csv.writer(text)
            writer.writerow(["row", "value", "outcome", "reason"])
            async with self.service.sessions() as session:
                async for rejection in ImportRepository.from_session(session).rejections(import_id):
                    writer.writerow(
                        [
                            rejection.row,
                            spreadsheet_safe(rejection.value),
                            rejection.outcome,
                            rejection.reason,
                        ]
                    )
            spool.seek(0)
            store = await self.service.js.object_store(UPLOADS_BUCKET)
            await store.put(name, spool)
        return name


class _TextSink:
    """csv.writer needs `write(str)`; the object store wants bytes. UTF-8 with BOM, as Excel expects."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        raw.write("\ufeff".encode())

    def write(self, text: str) -> int:
        return self._raw.write(text.encode())


class _ProgressClock:
    def __init__(self) -> None:
        self._last_at = 0.0
        self._last_percent = -100.0

    def due(self, percent: float) -> bool:
        now = time.monotonic()
        if percent - self._last_percent >= PROGRESS_PERCENT or now - self._last_at >= PROGRESS_SECONDS:
            self._last_at, self._last_percent = now, percent
            return True
        return False


def explain(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.start + 1].hex()
        return (
            f"The file is not entirely {exc.encoding}: further into the file there is a byte (0x{bad}) "
            f"that is not valid {exc.encoding}, so it was not imported. Save it as UTF-8 and import it again."
        )
    if isinstance(exc, csv.Error):
        return f"The file is not a well-formed CSV: {exc}."
    return str(exc)
