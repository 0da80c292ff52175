"""Import previews, worked out in a process of their own.

A preview parses up to PREVIEW_BYTES of whatever a user uploads: pure CPU work that, run on the
importer's event loop, would hold every other workspace's commands (import state, progress, suppressions)
until it is done. The pool runs it in a separate process, so the loop only waits for the answer; one
worker process is enough (previews are small and a person waits for each), and it is started with the
first preview.
"""

from __future__ import annotations

import asyncio
import csv
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from contracts.commands import PreviewReply
from contracts.replies import Refusal
from services.importer.csv_source import explain, preview
from services.importer.domain import ImportInputError, suggest_mapping
from services.importer.worker import exit_with_parent

# (sample, truncated) → the reply; module-level, so it can be sent to the worker process by name.
PreviewFunction = Callable[[bytes, bool], PreviewReply | Refusal]


def preview_reply(sample: bytes, truncated: bool) -> PreviewReply | Refusal:
    """The wizard's preview of a file's first `sample` bytes, or the reason it cannot be read."""
    try:
        result = preview(sample, truncated=truncated)
    except (ImportInputError, UnicodeDecodeError, csv.Error) as exc:
        return Refusal.invalid(explain(exc))
    return PreviewReply(
        encoding=result.encoding,
        delimiter=result.delimiter,
        headers=result.headers,
        rows=result.rows,
        suggested_mapping=suggest_mapping(result.headers),
    )


class PreviewPool:
    def __init__(self, work: PreviewFunction = preview_reply) -> None:
        self._work = work
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, sample: bytes, truncated: bool) -> PreviewReply | Refusal:
        pool = self._pool or self._start()
        try:
            return await asyncio.wrap_future(pool.submit(self._work, sample, truncated))
        except BrokenProcessPool:
            # The worker died (killed, out of memory): the next preview gets a new one.
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    def _start(self) -> ProcessPoolExecutor:
        # spawn: the importer holds asyncio, NATS and psycopg state that must not be forked.
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=exit_with_parent
        )
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
