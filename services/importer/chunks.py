"""An import's chunks, built from its rows: parsed, checked, staged for COPY and serialised as events.

Pure: the worker process (worker.py) runs it on its own core. A chunk carries the COPY lines of its
candidates and its `LeadImported` serialised with every candidate in it, the byte span of each lead's
object noted, so the main process only splices in the lead ids `INSERT … RETURNING` gives and cuts out
the leads the database turned away. A chunk is cut short where its event would pass `MAX_EVENT_BYTES`
(NATS refuses messages over 1 MB); a row whose lead alone passes `MAX_LEAD_BYTES` is rejected.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import NamedTuple
from uuid import UUID

from contracts import LeadImported
from services.importer.csv_source import ragged_reason
from services.importer.domain import Candidate, Outcome, Rejection, plan_chunk

OPTIONAL_FIELDS = ("first_name", "last_name", "company_name", "phone", "website", "city", "industry")

CHUNK_NAMESPACE = uuid.UUID("6f1d7a52-4c1e-4f7e-9a55-2b3c1d0e9f10")


def chunk_event_id(import_id: UUID, chunk: int) -> UUID:
    """Deterministic, so a chunk redone after a crash publishes under the same `Nats-Msg-Id`."""
    return uuid.uuid5(CHUNK_NAMESPACE, f"{import_id}:{chunk}")


class ChunkEvent(NamedTuple):
    """A chunk's LeadImported, serialised with every candidate in it (none may be rejected yet)."""

    event_id: UUID
    subject: str
    payload: bytes
    # The byte span of each candidate's lead object in `payload`, flattened: start, end, start, end, …
    spans: tuple[int, ...]

    def without(self, keep: Sequence[bool]) -> bytes | None:
        """The payload holding only the leads where `keep` (per candidate) is true; None if none is."""
        if all(keep):
            return self.payload
        kept = [self.payload[self.spans[2 * i] : self.spans[2 * i + 1]] for i, k in enumerate(keep) if k]
        if not kept:
            return None
        return b"".join((self.payload[: self.spans[0]], b", ".join(kept), b"]}"))


class Chunk(NamedTuple):
    number: int
    last_row: int
    # (row, value, outcome, reason)
    rejections: tuple[tuple[int, str, str, str], ...]
    # The row of each candidate (a new address as far as this chunk knows), in file order.
    rows: tuple[int, ...]
    # The candidates as COPY text, in `STAGE_COLUMNS`; each with the lead id it will have if inserted.
    staged: bytes
    event: ChunkEvent | None


STAGE_COLUMNS = (
    "id",
    "workspace_id",
    "campaign_id",
    "import_id",
    "email",
    "email_key",
    "custom",
    "source_row",
    *OPTIONAL_FIELDS,
)

_encode = json.encoder.encode_basestring  # what `json.dumps(..., ensure_ascii=False)` uses for strings
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# The RFC 4122 variant (binary 10xx) in the first hex digit of a UUID's fourth group.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def new_lead_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, from one read of the OS's random source."""
    h = os.urandom(16 * count).hex()
    return [
        f"{h[j : j + 8]}-{h[j + 8 : j + 12]}-4{h[j + 13 : j + 16]}-{_VARIANT[h[j + 16]]}{h[j + 17 : j + 20]}-{h[j + 20 : j + 32]}"
        for j in range(0, 32 * count, 32)
    ]


def custom_json(custom: dict[str, str]) -> str:
    """Exactly `json.dumps(custom, ensure_ascii=False)` for a dict of strings, without its machinery."""
    if not custom:
        return "{}"
    return "{" + ", ".join([f"{_encode(k)}: {_encode(v)}" for k, v in custom.items()]) + "}"


# ImportedLead's JSON, in `json.dumps(values, ensure_ascii=False)`'s exact form, as one format string.
_FRAGMENT = (
    '{"lead_id": "%s", "email": %s, "row": %d, '
    + ", ".join(f'"{name}": %s' for name in OPTIONAL_FIELDS)
    + ', "custom": %s}'
)


def lead_fragment(candidate: Candidate, lead_id: str, custom: str | None = None) -> str:
    """`contracts.ImportedLead`'s JSON for the candidate: exactly `json.dumps(values, ensure_ascii=False)`,
    assembled by hand because it runs for every row."""
    if custom is None:
        custom = custom_json(candidate.custom)
    get = candidate.fields.get
    return _FRAGMENT % (
        lead_id,
        _encode(candidate.email),
        candidate.row,
        *["null" if (v := get(name)) is None else _encode(v) for name in OPTIONAL_FIELDS],
        custom,
    )


# The stage is filled with `NULL ''`: an absent optional field is an empty field (a present one never is:
# planning turns blank values into None), so a line needs no per-field NULL markers.
_FIELD_SEPARATORS = len(STAGE_COLUMNS) - 4 - 1  # the columns after id and the three ids, less one
_NEEDS_ESCAPE_BUT_TAB = re.compile(r"[\\\n\r]")


def _copy_line(prefix: str, lead_id: str, candidate: Candidate, custom: str) -> str:
    """One row of `staged`: COPY text (`NULL ''`), specialised to a candidate."""
    get = candidate.fields.get
    body = "\t".join(
        [
            candidate.email,
            candidate.key,
            custom,
            str(candidate.row),
            *[get(name) or "" for name in OPTIONAL_FIELDS],
        ]
    )
    if body.count("\t") != _FIELD_SEPARATORS or _NEEDS_ESCAPE_BUT_TAB.search(body):  # rare
        values = [candidate.email, candidate.key, custom, str(candidate.row)]
        values += [get(name) or "" for name in OPTIONAL_FIELDS]
        body = "\t".join([v.translate(_COPY_ESCAPES) for v in values])
    return f"{lead_id}\t{prefix}{body}"


def lead_imported_head(ids: tuple[UUID, UUID, UUID], number: int) -> tuple[UUID, str, bytes]:
    """Event id, subject and the JSON of a chunk's LeadImported up to its first lead (`… "leads": [`)."""
    workspace_id, campaign_id, import_id = ids
    envelope = LeadImported.model_construct(
        event_id=chunk_event_id(import_id, number),
        workspace_id=workspace_id,
        campaign_id=campaign_id,
        import_id=import_id,
        chunk=number,
        leads=[],
    )
    document = envelope.model_dump(mode="json")
    del document["leads"]
    head = json.dumps(document, ensure_ascii=False)
    return envelope.event_id, envelope.subject, f'{head[:-1]}, "leads": ['.encode()


def stage_candidates(
    ids: tuple[UUID, UUID, UUID], number: int, candidates: Sequence[Candidate]
) -> tuple[bytes, ChunkEvent | None]:
    """The COPY text (`NULL ''`) of the candidates, in `STAGE_COLUMNS`, and their LeadImported; each has
    a new lead id."""
    if not candidates:
        return b"", None
    prefix = "".join(f"{i}\t" for i in ids)
    lines: list[str] = []
    fragments: list[bytes] = []
    for candidate, lead_id in zip(candidates, new_lead_ids(len(candidates)), strict=True):
        custom = custom_json(candidate.custom)
        lines.append(_copy_line(prefix, lead_id, candidate, custom))
        fragments.append(lead_fragment(candidate, lead_id, custom).encode())
    lines.append("")
    event_id, subject, head = lead_imported_head(ids, number)
    spans: list[int] = []
    at = len(head)
    for fragment in fragments:
        spans += (at, at + len(fragment))
        at += len(fragment) + 2
    payload = b"".join((head, b", ".join(fragments), b"]}"))
    return "\n".join(lines).encode(), ChunkEvent(event_id, subject, payload, tuple(spans))


# NATS refuses a message over its `max_payload` (1 MB by default), and the outbox would retry such an event
# for ever: a chunk's LeadImported is cut short of that, and one lead larger than a chunk may be is rejected.
MAX_EVENT_BYTES = 768 * 1024
MAX_LEAD_BYTES = 256 * 1024


class RowStream:
    """The numbered rows of a source, with a way to put back the ones a chunk did not take."""

    def __init__(self, rows: Iterable[tuple[int, dict[str, str]]]) -> None:
        self._rows = iter(rows)
        self._back: list[tuple[int, dict[str, str]]] = []

    def take(self, count: int) -> list[tuple[int, dict[str, str]]]:
        taken = self._back[:count]
        del self._back[:count]
        if len(taken) < count:
            taken += itertools.islice(self._rows, count - len(taken))
        return taken

    def put_back(self, rows: Sequence[tuple[int, dict[str, str]]]) -> None:
        self._back[:0] = rows


def too_large(size: int) -> str:
    return (
        f"the row holds {size / 1024:,.0f} KB of data once imported; "
        f"a lead may hold at most {MAX_LEAD_BYTES // 1024} KB"
    )


def _plan(
    batch: Sequence[tuple[int, dict[str, str]]], mapping: dict[str, str], oversized: dict[int, int]
) -> tuple[list[Candidate], list[Rejection]]:
    """The chunk's candidates and rejections; a row in `oversized` (row → bytes) is rejected as too large."""
    mappable = [(n, row) for n, row in batch if ragged_reason(row) is None and n not in oversized]
    plan = plan_chunk(mappable, mapping)
    rejections = plan.rejections
    for n, row in batch:
        reason = ragged_reason(row)
        if reason is not None:
            rejections.append(Rejection(n, "", Outcome.REJECTED, reason))
        elif n in oversized:
            email = (row.get(mapping["email"]) or "").strip()
            rejections.append(Rejection(n, email, Outcome.REJECTED, too_large(oversized[n])))
    return plan.candidates, rejections


def _cut(candidates: Sequence[Candidate], event: ChunkEvent, oversized: dict[int, int]) -> int | None:
    """Where a chunk whose event is too large must end (the first row it must leave out), noting in
    `oversized` the candidates that are too large on their own; None when only those need to go."""
    size = event.spans[0] + 2  # the head and the closing `]}`
    for i, candidate in enumerate(candidates):
        length = event.spans[2 * i + 1] - event.spans[2 * i]
        if length > MAX_LEAD_BYTES:
            oversized[candidate.row] = length
            continue
        size += length + 2
        if size > MAX_EVENT_BYTES:
            return candidate.row
    return None


def next_chunk(
    rows: RowStream,
    size: int,
    mapping: dict[str, str],
    ids: tuple[UUID, UUID, UUID],
    number: int,
) -> Chunk | None:
    """Read, plan and stage chunk `number` from `rows`; None at the end. A chunk holds `size` rows, or fewer
    when its event would be too large: the rows it leaves go back to `rows` for the next chunk."""
    batch = rows.take(size)
    if not batch:
        return None
    oversized: dict[int, int] = {}
    while True:
        candidates, rejections = _plan(batch, mapping, oversized)
        staged, event = stage_candidates(ids, number, candidates)
        if event is None or (len(event.payload) <= MAX_EVENT_BYTES and not oversized_in(event)):
            break
        end = _cut(candidates, event, oversized)
        if end is not None:
            keep = next(i for i, (n, _) in enumerate(batch) if n >= end)
            rows.put_back(batch[keep:])
            batch = batch[:keep]
    return Chunk(
        number,
        batch[-1][0],
        tuple((r.row, r.value, r.outcome.value, r.reason) for r in rejections),
        tuple(c.row for c in candidates),
        staged,
        event,
    )


def oversized_in(event: ChunkEvent) -> bool:
    """Whether one of the event's leads is larger than a lead may be."""
    spans = event.spans
    return any(spans[i + 1] - spans[i] > MAX_LEAD_BYTES for i in range(0, len(spans), 2))
