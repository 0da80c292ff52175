"""The CPU-heavy, pure half of an import, run in a separate process so it uses another core.

The worker opens the import's source itself (a CSV by path, or a query over its own connection), skips
the rows already committed, and streams ready chunks back over a bounded queue. Everything it sends is
strings, bytes, ints and tuples (cheap to pickle): the main process only runs each chunk's transaction
and splices the lead ids returned by `INSERT … RETURNING` into the pre-serialised event fragments.

Messages, in order: `("opened", total_rows)`, then `("chunk", Chunk)` per chunk, then `("done",)`; or
`("error", exception)` at any point, after which the worker stops.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import threading
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from typing import Any
from uuid import UUID

from services.importer.chunks import RowStream, next_chunk
from services.importer.sources import Source
from services.runtime.gc_tuning import tune_gc

# Enough for a transaction of several chunks to find them ready (~1 MB each).
BACKLOG_CHUNKS = 8
_POLL_SECONDS = 0.5


def produce(
    source: Source,
    skip: int,
    first_chunk: int,
    size: int,
    ids: tuple[UUID, UUID, UUID],
    out: Any,
    stop: Any,
) -> None:
    """The worker process's body: open `source`, then put its chunks (numbered from `first_chunk`) on
    `out` until the end or `stop`."""
    if exit_with_parent():
        # A worker makes millions of short-lived, acyclic objects: collect rarely.
        tune_gc()
    try:
        opened = source.open(skip)
        try:
            out.put(("opened", opened.total_rows))
            stream = RowStream(opened.rows)
            for number in itertools.count(first_chunk):
                if stop.is_set():
                    break
                chunk = next_chunk(stream, size, opened.mapping, ids, number)
                if chunk is None:
                    out.put(("done",))
                    break
                out.put(("chunk", chunk))
        finally:
            source.close()
    except BaseException as exc:
        out.put(("error", _picklable(exc)))


def exit_with_parent() -> bool:
    """End this process as soon as the importer that started it is gone, even by `kill -9` (when it
    would otherwise wait forever on its full queue, an orphan). False when not in a child process."""
    parent = multiprocessing.parent_process()
    if parent is None:  # called in-process (tests)
        return False

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    return True


def _picklable(exc: BaseException) -> BaseException:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"import worker failed: {exc!r}")
    return exc


@dataclass
class ChunkWorker:
    """The main process's handle on one import's worker process."""

    process: SpawnProcess
    queue: Any
    stop: Any

    @classmethod
    def start(
        cls, source: Source, skip: int, first_chunk: int, size: int, ids: tuple[UUID, UUID, UUID]
    ) -> ChunkWorker:
        # spawn: the importer holds asyncio, NATS and psycopg state that must not be forked.
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue(maxsize=BACKLOG_CHUNKS)
        stop = ctx.Event()
        process = ctx.Process(
            target=produce,
            args=(source, skip, first_chunk, size, ids, out, stop),
            name="import-worker",
            daemon=True,
        )
        process.start()
        return cls(process, out, stop)

    def receive(self, cancelled: threading.Event) -> tuple[Any, ...]:
        """The next message (blocking: runs in a thread); raises if the worker died without a word."""
        while True:
            try:
                message: tuple[Any, ...] = self.queue.get(timeout=_POLL_SECONDS)
                return message
            except queue.Empty:
                if cancelled.is_set():
                    raise RuntimeError("import worker no longer awaited") from None
                if not self.process.is_alive():
                    raise RuntimeError(f"import worker exited with code {self.process.exitcode}") from None

    def poll(self) -> tuple[Any, ...] | None:
        """The next message if one is ready, else None (never blocks)."""
        try:
            message: tuple[Any, ...] = self.queue.get_nowait()
        except queue.Empty:
            return None
        return message

    def close(self) -> None:
        """Stop the worker (it is pure: nothing of the import is lost) and reap it."""
        self.stop.set()
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        with contextlib.suppress(Exception):
            self.queue.cancel_join_thread()
            self.queue.close()
