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
import json
import multiprocessing
import os
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from typing import Any, NamedTuple
from uuid import UUID

from services.importer.csv_source import ragged_reason
from services.importer.domain import Candidate, Outcome, Rejection, plan_chunk
from services.importer.sources import Source

OPTIONAL_FIELDS = ("first_name", "last_name", "company_name", "phone", "website", "city", "industry")
BACKLOG_CHUNKS = 2
_POLL_SECONDS = 0.5


class ChunkCandidate(NamedTuple):
    row: int
    email: str
    key: str
    fragment: str  # the ImportedLead JSON object without its lead_id (see `lead_fragment`)


class Chunk(NamedTuple):
    last_row: int
    # (row, value, outcome, reason)
    rejections: tuple[tuple[int, str, str, str], ...]
    staged: bytes
    candidates: tuple[ChunkCandidate, ...]


_encode = json.encoder.encode_basestring  # what `json.dumps(..., ensure_ascii=False)` uses for strings
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def _json_value(value: str | None) -> str:
    return "null" if value is None else _encode(value)


def lead_fragment(candidate: Candidate, custom_json: str | None = None) -> str:
    """`contracts.ImportedLead`'s JSON for the candidate, missing only `lead_id` (see `splice_lead_id`).

    Exactly `json.dumps(values, ensure_ascii=False)`, assembled by hand: it runs for every row.
    """
    if custom_json is None:
        custom_json = json.dumps(candidate.custom, ensure_ascii=False)
    fields = candidate.fields
    optional = "".join(f', "{name}": {_json_value(fields.get(name))}' for name in OPTIONAL_FIELDS)
    return (
        f'{{"email": {_encode(candidate.email)}, "row": {candidate.row}{optional}, "custom": {custom_json}}}'
    )


def splice_lead_id(fragment: str, lead_id: UUID | str) -> str:
    # A fragment is a non-empty JSON object (it always has email and row), so it starts with `{"`.
    return f'{{"lead_id": "{lead_id}", {fragment[1:]}'


def _copy_line(prefix: str, candidate: Candidate, custom_json: str) -> str:
    """One row of `staged_leads`: `bulk.copy_text`'s format, specialised to a candidate."""
    values = [candidate.email, candidate.key, custom_json, str(candidate.row)]
    fields = candidate.fields
    values += [fields.get(name) for name in OPTIONAL_FIELDS]  # type: ignore[misc]
    line = "\t".join("\\N" if v is None else v for v in values)
    if _NEEDS_ESCAPE.search("".join(v for v in values if v is not None)):
        line = "\t".join("\\N" if v is None else v.translate(_COPY_ESCAPES) for v in values)
    return prefix + line


def staged_leads(
    workspace_id: UUID, campaign_id: UUID, import_id: UUID, candidates: Sequence[Candidate]
) -> bytes:
    """The COPY payload of a chunk's candidate leads, in the columns of `repository.STAGE_COLUMNS`."""
    return _staged_and_fragments((workspace_id, campaign_id, import_id), candidates)[0]


def _staged_and_fragments(
    ids: tuple[UUID, UUID, UUID], candidates: Sequence[Candidate]
) -> tuple[bytes, list[str]]:
    prefix = "".join(f"{i}\t" for i in ids)
    lines: list[str] = []
    fragments: list[str] = []
    for c in candidates:
        custom_json = json.dumps(c.custom, ensure_ascii=False)
        lines.append(_copy_line(prefix, c, custom_json))
        fragments.append(lead_fragment(c, custom_json))
    lines.append("")
    return "\n".join(lines).encode(), fragments


def next_chunk(
    rows: Iterator[tuple[int, dict[str, str]]],
    size: int,
    mapping: dict[str, str],
    ids: tuple[UUID, UUID, UUID],
) -> Chunk | None:
    """Read, plan and stage the next chunk of `rows`; None at the end."""
    batch = list(itertools.islice(rows, size))
    if not batch:
        return None
    mappable = [(n, row) for n, row in batch if ragged_reason(row) is None]
    plan = plan_chunk(mappable, mapping)
    rejections = plan.rejections
    if len(mappable) != len(batch):
        for n, row in batch:
            reason = ragged_reason(row)
            if reason is not None:
                rejections.append(Rejection(n, "", Outcome.REJECTED, reason))
    staged, fragments = _staged_and_fragments(ids, plan.candidates)
    return Chunk(
        batch[-1][0],
        tuple((r.row, r.value, r.outcome.value, r.reason) for r in rejections),
        staged,
        tuple(
            ChunkCandidate(c.row, c.email, c.key, fragment)
            for c, fragment in zip(plan.candidates, fragments, strict=True)
        ),
    )


def produce(source: Source, skip: int, size: int, ids: tuple[UUID, UUID, UUID], out: Any, stop: Any) -> None:
    """The worker process's body: open `source`, then put its chunks on `out` until the end or `stop`."""
    _exit_with_parent()
    try:
        opened = source.open(skip)
        try:
            out.put(("opened", opened.total_rows))
            while not stop.is_set():
                chunk = next_chunk(opened.rows, size, opened.mapping, ids)
                if chunk is None:
                    out.put(("done",))
                    break
                out.put(("chunk", chunk))
        finally:
            source.close()
    except BaseException as exc:
        out.put(("error", _picklable(exc)))


def _exit_with_parent() -> None:
    """End this process as soon as the importer that started it is gone, even by `kill -9` (when it
    would otherwise wait forever on its full queue, an orphan)."""
    parent = multiprocessing.parent_process()
    if parent is None:  # called in-process (tests)
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


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
    def start(cls, source: Source, skip: int, size: int, ids: tuple[UUID, UUID, UUID]) -> ChunkWorker:
        # spawn: the importer holds asyncio, NATS and psycopg state that must not be forked.
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue(maxsize=BACKLOG_CHUNKS)
        stop = ctx.Event()
        process = ctx.Process(
            target=produce, args=(source, skip, size, ids, out, stop), name="import-worker", daemon=True
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
