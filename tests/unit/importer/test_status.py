"""An import as its reply (percent, breakdown) and the pages and cursors of a campaign's import list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import ImportState
from services.importer.domain import empty_counts
from services.importer.status import decode_import_cursor, encode_import_cursor, page_of, status_of
from services.runtime.cursors import InvalidCursor, encode_cursor

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _job(**changes: Any) -> SimpleNamespace:
    row = {
        "id": uuid.UUID(int=1),
        "campaign_id": uuid.UUID(int=2),
        "source": "csv",
        "filename": "leads.csv",
        "state": "running",
        "error": None,
        "rows_done": 0,
        "total_rows": None,
        "cancel_requested": False,
        "report_object": None,
        "counts": {},
        "created_at": AT,
        "finished_at": None,
    }
    return SimpleNamespace(**{**row, **changes})


@pytest.mark.parametrize(
    ("state", "rows_done", "total_rows", "percent"),
    [
        ("running", 0, None, 0.0),  # not counted yet
        ("running", 50, 200, 25.0),
        ("running", 200, 200, 99.99),  # never 100% before the last chunk is committed
        ("running", 1, 3, 33.33),
        ("completed", 0, 0, 100.0),  # an empty file is done
        ("completed", 3, 3, 100.0),
        ("failed", 1, 4, 25.0),
        ("cancelled", 4, 4, 99.99),
    ],
)
def test_the_percent_an_import_shows(
    state: str, rows_done: int, total_rows: int | None, percent: float
) -> None:
    reply = status_of(_job(state=state, rows_done=rows_done, total_rows=total_rows))
    assert (reply.state, reply.percent) == (ImportState(state), percent)


def test_the_breakdown_names_every_outcome_even_those_not_counted_yet() -> None:
    reply = status_of(_job(counts={"imported": 3, "suppressed": 1}))
    assert reply.counts == {**empty_counts(), "imported": 3, "suppressed": 1}


def _jobs(n: int) -> list[SimpleNamespace]:
    return [_job(id=uuid.UUID(int=100 - i), created_at=AT - timedelta(minutes=i)) for i in range(n)]


@given(st.integers(0, 11), st.integers(1, 10))
def test_a_page_of_imports_has_a_cursor_only_when_more_follow(fetched: int, limit: int) -> None:
    rows = _jobs(min(fetched, limit + 1))  # the repository fetches at most limit + 1
    page = page_of(rows, limit)
    assert [item.id for item in page.items] == [row.id for row in rows[:limit]]
    if len(rows) > limit:
        last = rows[limit - 1]
        assert page.next_cursor is not None
        assert decode_import_cursor(page.next_cursor) == (last.created_at, last.id)
    else:
        assert page.next_cursor is None


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_an_import_cursor_gives_back_the_position_it_was_made_of(at: datetime, import_id: uuid.UUID) -> None:
    assert decode_import_cursor(encode_import_cursor(at, import_id)) == (at, import_id)


@pytest.mark.parametrize(
    "position",
    [
        ["2026-03-01T09:30:00", str(uuid.UUID(int=1))],  # a time without a zone
        ["2026-03-01T09:30:00+00:00", "not-a-uuid"],
        ["yesterday", str(uuid.UUID(int=1))],
        ["2026-03-01T09:30:00+00:00"],
        "2026-03-01T09:30:00+00:00",
        [1, 2],
        None,
    ],
)
def test_a_cursor_that_is_not_an_import_position_is_refused(position: object) -> None:
    with pytest.raises(InvalidCursor):
        decode_import_cursor(encode_cursor(position))
