"""The import worker's protocol: what it sends for a source, and how errors and shutdown behave."""

from __future__ import annotations

import io
import json
import queue
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import ImportedLead, LeadImported
from services.importer.chunks import (
    MAX_EVENT_BYTES,
    MAX_LEAD_BYTES,
    OPTIONAL_FIELDS,
    RowStream,
    custom_json,
    lead_fragment,
    new_lead_ids,
    next_chunk,
    stage_candidates,
)
from services.importer.domain import Candidate, ImportInputError, Outcome
from services.importer.sources import CsvFileSource, CsvSource, OpenedSource
from services.importer.worker import ChunkWorker, produce

IDS = (uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
MAPPING = {"email": "email", "first_name": "name"}


class ListSource:
    """A source over fixed rows, as the worker sees any `Source`."""

    def __init__(self, rows: list[dict[str, str]], fail_at: int | None = None) -> None:
        self.rows = rows
        self.fail_at = fail_at
        self.closed = False

    def open(self, skip: int) -> OpenedSource:
        def iterate() -> Any:
            for number, row in enumerate(self.rows, start=1):
                if number == self.fail_at:
                    raise ImportInputError(f"bad row {number}")
                if number > skip:
                    yield number, row

        return OpenedSource(len(self.rows), dict(MAPPING), iterate())

    def close(self) -> None:
        self.closed = True


def run(source: ListSource, skip: int, size: int) -> list[tuple[Any, ...]]:
    out: queue.Queue[tuple[Any, ...]] = queue.Queue()
    produce(source, skip, 7, size, IDS, out, threading.Event())
    return [out.get_nowait() for _ in range(out.qsize())]


ROWS = [
    {"email": "a@example.com", "name": "Ann"},
    {"email": "", "name": "Nobody"},
    {"email": "A@EXAMPLE.COM", "name": "Ann again"},
    {"email": "not an address", "name": "x"},
    {"\x00ragged": "row has 3 fields, the header has 2"},
    {"email": "b@example.com", "name": ""},
]


@pytest.mark.parametrize(
    ("skip", "size", "expected"),
    [
        # (last row, candidate rows, rejections as (row, outcome)) per chunk
        (
            0,
            1000,
            [
                (
                    6,
                    [1, 6],
                    [
                        (2, "missing_email"),
                        (3, "duplicate_in_file"),
                        (4, "invalid_format"),
                        (5, "rejected"),
                    ],
                )
            ],
        ),
        (
            0,
            2,
            [
                (2, [1], [(2, "missing_email")]),
                (4, [3], [(4, "invalid_format")]),
                (6, [6], [(5, "rejected")]),
            ],
        ),
        (3, 2, [(5, [], [(4, "invalid_format"), (5, "rejected")]), (6, [6], [])]),
        (6, 2, []),
    ],
)
def test_chunks_sent_for_a_source(
    skip: int, size: int, expected: list[tuple[int, list[int], list[tuple[int, str]]]]
) -> None:
    source = ListSource(ROWS)
    messages = run(source, skip, size)
    assert messages[0] == ("opened", len(ROWS))
    assert messages[-1] == ("done",)
    chunks = [m[1] for m in messages[1:-1]]
    assert [m[0] for m in messages[1:-1]] == ["chunk"] * len(chunks)
    got = [(c.last_row, list(c.rows), sorted((r[0], r[2]) for r in c.rejections)) for c in chunks]
    assert got == expected
    # Chunks are numbered on from the first chunk number given.
    assert [c.number for c in chunks] == list(range(7, 7 + len(chunks)))
    for c in chunks:
        # One COPY line per candidate, in the candidates' order, with its row and its new lead id.
        lines = c.staged.decode().split("\n")[:-1]
        assert [int(line.split("\t")[7]) for line in lines] == list(c.rows)
        assert all(line.split("\t")[1:4] == [str(i) for i in IDS] for line in lines)
        if c.event is not None:
            event = json.loads(c.event.payload)
            assert event["chunk"] == c.number
            assert [lead["row"] for lead in event["leads"]] == list(c.rows)
            assert [lead["lead_id"] for lead in event["leads"]] == [line.split("\t")[0] for line in lines]
        else:
            assert not c.rows
    assert source.closed


def test_an_error_is_sent_and_ends_the_stream() -> None:
    source = ListSource(ROWS, fail_at=3)
    messages = run(source, 0, 2)
    assert [m[0] for m in messages] == ["opened", "chunk", "error"]
    assert isinstance(messages[-1][1], ImportInputError)
    assert str(messages[-1][1]) == "bad row 3"
    assert source.closed


def test_stop_ends_the_stream_without_done() -> None:
    out: queue.Queue[tuple[Any, ...]] = queue.Queue()
    stop = threading.Event()
    stop.set()
    produce(ListSource(ROWS), 0, 0, 2, IDS, out, stop)
    assert [out.get_nowait()[0] for _ in range(out.qsize())] == ["opened"]


TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    st.emails().map(str),
    st.integers(1, 10**6),
    st.dictionaries(
        st.sampled_from(["first_name", "company_name", "website", "industry"]), st.one_of(st.none(), TEXT)
    ),
    st.dictionaries(TEXT, TEXT, max_size=3),
)
def test_hand_built_fragment_and_copy_line_equal_the_generic_encoders(
    email: str, row: int, fields: dict[str, str | None], custom: dict[str, str]
) -> None:
    candidate = Candidate(row, email, email.lower(), fields, custom)
    lead_id = str(uuid.uuid4())
    values: dict[str, Any] = {"lead_id": lead_id, "email": email, "row": row}
    values.update({name: fields.get(name) for name in OPTIONAL_FIELDS})
    values["custom"] = custom
    assert lead_fragment(candidate, lead_id) == json.dumps(values, ensure_ascii=False)
    assert custom_json(custom) == json.dumps(custom, ensure_ascii=False)
    assert ImportedLead.model_validate_json(lead_fragment(candidate, lead_id)) == ImportedLead(
        lead_id=lead_id, email=email, row=row, custom=custom, **fields
    )
    staged, _ = stage_candidates(IDS, 0, [candidate])
    line = staged.decode()
    assert line.endswith("\n") and line.count("\n") == 1
    fields_out = [_copy_unescape(v) for v in line[:-1].split("\t")]
    # COPY … (NULL ''): an empty field is NULL.
    assert [v or None for v in fields_out] == [
        fields_out[0],
        *map(str, IDS),
        email,
        email.lower(),
        json.dumps(custom, ensure_ascii=False),
        str(row),
        *(fields.get(name) or None for name in OPTIONAL_FIELDS),
    ]
    assert str(uuid.UUID(fields_out[0])) == fields_out[0]


def _copy_unescape(field: str) -> str:
    escapes = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    return re.sub(r"\\[\\tnr]", lambda m: escapes[m.group(0)], field)


def test_next_chunk_at_the_end_is_none() -> None:
    assert next_chunk(RowStream([]), 10, MAPPING, IDS, 0) is None


def _csv(tmp_path: Path, body: bytes) -> str:
    path = tmp_path / "upload.csv"
    path.write_bytes(body)
    return str(path)


def _drain(worker: ChunkWorker) -> list[tuple[Any, ...]]:
    messages = []
    while True:
        message = worker.receive(threading.Event())
        messages.append(message)
        if message[0] in ("done", "error"):
            return messages


def test_worker_process_streams_a_csv_and_exits(tmp_path: Path) -> None:
    rows = "".join(f"u{i}@example.com,N{i}\n" for i in range(1, 26))
    path = _csv(tmp_path, f"email,name\n{rows}".encode())
    worker = ChunkWorker.start(CsvFileSource(path, MAPPING), 5, 0, 10, IDS)
    try:
        messages = _drain(worker)
    finally:
        worker.close()
    assert messages[0] == ("opened", 25)
    assert [m[1].last_row for m in messages[1:-1]] == [15, 25]
    assert messages[-1] == ("done",)
    assert sum(len(m[1].rows) for m in messages[1:-1]) == 20
    assert worker.process.exitcode is not None


def test_worker_process_reports_input_errors_as_the_main_process_would(tmp_path: Path) -> None:
    # A byte that is not UTF-8 well past the sample: the pre-scan fails before any chunk is sent.
    body = b"email,name\n" + b"a@example.com,x\n" * 8000 + b"b@example.com,\xff\n"
    path = _csv(tmp_path, body)
    with pytest.raises(UnicodeDecodeError) as direct:
        CsvSource(io.BytesIO(body), MAPPING).open(0)
    worker = ChunkWorker.start(CsvFileSource(path, MAPPING), 0, 0, 10, IDS)
    try:
        messages = _drain(worker)
    finally:
        worker.close()
    assert [m[0] for m in messages] == ["error"]
    error = messages[0][1]
    assert type(error) is UnicodeDecodeError
    assert str(error) == str(direct.value)
    assert error.object[error.start : error.start + 1] == b"\xff"


def test_closing_a_busy_worker_ends_its_process(tmp_path: Path) -> None:
    rows = "".join(f"u{i}@example.com,N{i}\n" for i in range(1, 5001))
    path = _csv(tmp_path, f"email,name\n{rows}".encode())
    worker = ChunkWorker.start(CsvFileSource(path, MAPPING), 0, 0, 10, IDS)
    assert worker.receive(threading.Event())[0] == "opened"
    worker.close()  # with its queue full, the worker blocks on put
    assert worker.process.exitcode is not None


def test_outcomes_sent_are_outcome_values() -> None:
    chunks = [m[1] for m in run(ListSource(ROWS), 0, 1000) if m[0] == "chunk"]
    assert {r[2] for c in chunks for r in c.rejections} <= {o.value for o in Outcome}


def test_new_lead_ids_are_distinct_random_uuids() -> None:
    ids = [uuid.UUID(i) for i in new_lead_ids(5000)]
    assert len(set(ids)) == 5000
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    assert [str(i) for i in ids] == [str(i) for i in ids]  # canonical, lower-case text
    assert new_lead_ids(0) == []


def _chunks(rows: list[tuple[int, dict[str, str]]], size: int) -> list[Any]:
    stream = RowStream(rows)
    out: list[Any] = []
    while (chunk := next_chunk(stream, size, MAPPING, IDS, len(out))) is not None:
        out.append(chunk)
    return out


def _covered(chunks: list[Any]) -> list[int]:
    """Every row the chunks account for (a candidate or a rejection), chunk by chunk, in order."""
    return [row for chunk in chunks for row in sorted([*chunk.rows, *(r[0] for r in chunk.rejections)])]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300_000), min_size=1, max_size=40), st.integers(1, 12))
def test_chunks_stay_under_the_event_limit_and_account_for_every_row_once(
    sizes: list[int], size: int
) -> None:
    rows = [
        (n, {"email": f"l{n}@x.cz", "name": "J", "note": "é" * width}) for n, width in enumerate(sizes, 1)
    ]
    chunks = _chunks(rows, size)
    assert _covered(chunks) == [n for n, _ in rows]
    assert [c.number for c in chunks] == list(range(len(chunks)))
    assert [c.last_row for c in chunks] == sorted({c.last_row for c in chunks})
    for chunk in chunks:
        if chunk.event is not None:
            assert len(chunk.event.payload) <= MAX_EVENT_BYTES
            event = LeadImported.model_validate_json(chunk.event.payload)
            assert [lead.row for lead in event.leads] == list(chunk.rows)
        for row, value, outcome, reason in chunk.rejections:
            width = sizes[row - 1]
            assert outcome == "rejected" and value == f"l{row}@x.cz" and "at most 256 KB" in reason
            assert width * 2 > MAX_LEAD_BYTES - 1024  # only rows that are too large are rejected
    imported = {row for chunk in chunks for row in chunk.rows}
    assert imported >= {n for n, width in enumerate(sizes, 1) if width * 2 < MAX_LEAD_BYTES - 1024}


def test_a_thousand_wide_rows_make_several_chunks_each_under_the_limit() -> None:
    rows = [(n, {"email": f"l{n}@x.cz", "name": "J", "note": "ř" * 700}) for n in range(1, 1001)]
    chunks = _chunks(rows, 1000)
    assert len(chunks) == 3  # ~1.6 KB per lead: 1,000 of them would be ~1.6 MB
    assert sum(len(c.rows) for c in chunks) == 1000 and chunks[-1].last_row == 1000
    assert all(c.event is not None and len(c.event.payload) <= MAX_EVENT_BYTES for c in chunks)
    narrow = [(n, {"email": f"l{n}@x.cz", "name": "J", "note": "ok"}) for n in range(1, 1001)]
    assert len(_chunks(narrow, 1000)) == 1
