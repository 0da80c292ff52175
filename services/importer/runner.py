"""Runs imports chunk by chunk; each chunk commits its leads, rejections, checkpoint and event together.

Only one worker runs a given import: it holds a PostgreSQL advisory lock on a dedicated connection for the
whole job. A worker that dies (even by `kill -9`) loses its connection and so its lock; a surviving or
restarted worker then finds the import still `running` and resumes after its last committed chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
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

from contracts import ImportCompleted, ImportEndState, ImportProgress, ImportState
from services.importer.chunks import CHUNK_NAMESPACE, Chunk
from services.importer.csv_source import explain
from services.importer.domain import ImportInputError, empty_counts
from services.importer.repository import ImportRepository
from services.importer.sources import CsvFileSource, Source
from services.importer.tables import outbox
from services.importer.worker import ChunkWorker
from services.importer.writer import ChunkWriter, ImportSuperseded, Job
from services.runtime.db import psycopg_conninfo
from services.runtime.leased_work import WorkLoop
from services.runtime.outbox import PublishNow, add_to_outbox
from services.runtime.service import Service
from services.runtime.spreadsheet import spreadsheet_safe
from services.runtime.streams import UPLOADS_BUCKET

log = structlog.get_logger(__name__)

RESCAN_SECONDS = 10.0
# ImportProgress goes out at least every 1% or every 500 ms, whichever comes first.
PROGRESS_SECONDS = 0.5
PROGRESS_PERCENT = 1.0
# Fewer, larger transactions: each commit costs a WAL flush and a round of statements.
MAX_CHUNKS_PER_TRANSACTION = 8


def completion_event_id(import_id: UUID) -> UUID:
    return uuid.uuid5(CHUNK_NAMESPACE, f"{import_id}:completed")


def chunks_per_transaction(total_rows: int, chunk_rows: int) -> int:
    """How many ready chunks one transaction may commit: at most 1% of the rows (and at most
    `MAX_CHUNKS_PER_TRANSACTION`), at least one."""
    return max(1, min(MAX_CHUNKS_PER_TRANSACTION, total_rows // 100 // max(1, chunk_rows)))


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
        # Finds the running imports nobody runs (their worker died, and its lock with its connection); a
        # failed pass (the database restarting) is tried again on the runtime's backoff.
        self.rescans = WorkLoop(self._rescan, name="importer-rescan", every=RESCAN_SECONDS)

    async def start(self) -> None:
        self.service.spawn(self.rescans.run(), "importer-rescan")

    async def _rescan(self) -> int:
        await self.resume_running()
        return 0  # launched, not done: the next pass comes after RESCAN_SECONDS

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
        # The lock's connection also writes the chunks: its session owns the import while it lives.
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"import:{import_id}",)
            )
            row = await cur.fetchone()
            if not row or not row[0]:
                return  # another worker owns it
            with structlog.contextvars.bound_contextvars(import_id=str(import_id)):
                try:
                    await self._run_locked(conn, import_id)
                except ImportSuperseded as exc:
                    log.warning("import taken over by another worker; stopping", reason=str(exc))

    async def _run_locked(self, conn: psycopg.AsyncConnection[Any], import_id: UUID) -> None:
        async with self.service.sessions() as session:
            job = await ImportRepository.from_session(session).get(import_id)
        if job is None or job.state != ImportState.RUNNING:
            return
        counts: dict[str, int] = {**empty_counts(), **job.counts}
        if job.cancel_requested:
            await self._finish(job, ImportState.CANCELLED, None, counts)
            return
        log.info("import started" if job.rows_done == 0 else "import resumed", rows_done=job.rows_done)
        writer = ChunkWriter(conn, Job(job.id, job.workspace_id, job.campaign_id))
        await writer.prepare()
        with contextlib.ExitStack() as resources:
            try:
                source = await self._source_for(job, resources)
                worker = ChunkWorker.start(
                    source,
                    job.rows_done,
                    job.chunks_done,
                    self.service.settings.import_chunk_rows,
                    (job.workspace_id, job.campaign_id, job.id),
                )
                resources.callback(worker.close)
                state = await self._consume(job, worker, writer, counts)
            except (ImportInputError, UnicodeDecodeError, csv.Error) as exc:
                message = explain(exc)
                log.info("import failed on its input", error=message)
                await self._finish(job, ImportState.FAILED, message, counts)
                return
            except NotFoundError:
                await self._finish(
                    job, ImportState.FAILED, "The uploaded file is no longer available.", counts
                )
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

    async def _consume(
        self, job: Any, worker: ChunkWorker, writer: ChunkWriter, counts: dict[str, int]
    ) -> ImportEndState:
        """Import every remaining row; returns the final state (`completed` or `cancelled`).

        The worker process reads, plans and stages the next chunks while these are written. Chunks that
        are ready together are committed together, up to 1% of the rows, so that progress, which reports
        committed rows only, still moves at least every 1%.
        """
        rows_done, chunks_done = job.rows_done, job.chunks_done
        progress = _ProgressClock()
        abandoned = threading.Event()
        # Each committed batch's LeadImported go out from memory at once (the relay's eager hand-over)
        # while the next batches are written; without it, every payload would be read back from the table.
        publishing: list[asyncio.Task[None]] = []
        # Chunks are taken off the worker's queue (and unpickled) in a thread while a batch is written.
        inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue(maxsize=MAX_CHUNKS_PER_TRANSACTION)

        async def pump() -> None:
            while True:
                message = await asyncio.to_thread(worker.receive, abandoned)
                await inbox.put(message)
                if message[0] in ("done", "error"):
                    return

        async def receive() -> tuple[Any, ...]:
            message = await inbox.get()
            if message[0] == "error":
                raise message[1]
            return message

        pumping = asyncio.create_task(pump())
        try:
            _, total_rows = await receive()
            if job.total_rows != total_rows:
                await self._save_total(job.id, total_rows)
            # The total is known before the first chunk is: progress can say "of N" from now on.
            await self._progress(job, percent_of(rows_done, total_rows), rows_done, total_rows, counts)
            per_transaction = chunks_per_transaction(total_rows, self.service.settings.import_chunk_rows)
            finished = False
            while not finished:
                batch: list[Chunk] = []
                message = await receive()
                while True:
                    if message[0] == "done":
                        finished = True
                        break
                    batch.append(message[1])
                    if len(batch) >= per_transaction or inbox.empty():
                        break
                    message = await receive()
                if not batch:
                    continue
                event_ids = [chunk.event.event_id for chunk in batch if chunk.event is not None]
                with self._eagerly(event_ids) as publish_now:
                    stored = await writer.store(
                        batch, rows_done=rows_done, chunks_done=chunks_done, counts=counts
                    )
                    if stored is None:
                        return ImportState.CANCELLED
                    if stored.events and publish_now is not None:
                        publishing.append(publish_now(stored.events))
                rows_done, chunks_done = stored.rows_done, stored.chunks_done
                percent = percent_of(rows_done, total_rows)
                if progress.due(percent):
                    await self._progress(job, percent, rows_done, total_rows, counts)
            return ImportState.COMPLETED
        finally:
            abandoned.set()
            pumping.cancel()
            with contextlib.suppress(BaseException):
                await pumping
            # ImportCompleted, committed next, goes out after them. Each ends within the relay's ack
            # timeout; what it could not publish, the relay's drain publishes, in commit order.
            await asyncio.gather(*publishing, return_exceptions=True)

    def _eagerly(self, event_ids: list[UUID]) -> contextlib.AbstractContextManager[PublishNow | None]:
        relay = self.service.relay
        if relay is None:  # a command that came in before the relay started: it drains them
            return contextlib.nullcontext()
        return relay.eagerly(event_ids)

    async def _progress(
        self, job: Any, percent: float, rows_done: int, total_rows: int, counts: dict[str, int]
    ) -> None:
        event = ImportProgress(
            workspace_id=job.workspace_id,
            campaign_id=job.campaign_id,
            import_id=job.id,
            percent=percent,
            rows_done=rows_done,
            total_rows=total_rows,
            counts=dict(counts),
        )
        # Progress is ephemeral (core NATS): a lost update is replaced by the next one.
        with contextlib.suppress(Exception):
            await self.service.broker.publish(event.to_bytes(), event.subject)

    async def _finish(
        self, job: Any, state: ImportEndState, error: str | None, counts: dict[str, int]
    ) -> None:
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
