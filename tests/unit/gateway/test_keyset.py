"""The leads list's page cursors and keyset segments: a cursor handed out comes back as its position for
its own sort only; the segments of a page are the index ranges that follow the cursor's row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.leads.keyset import (
    Keyset,
    LeadSort,
    decode_page_cursor,
    encode_page_cursor,
    in_arrival_order,
    is_datetime_sort,
    nullable_sort,
    page_segments,
    sort_value,
)
from services.gateway.tables import lead_search, lead_view
from services.runtime.cursors import InvalidCursor, encode_cursor

SORTS: tuple[LeadSort, ...] = get_args(LeadSort)
TEXT_SORTS = [s for s in SORTS if not is_datetime_sort(s)]
NON_NULLABLE = [s for s in SORTS if not nullable_sort(s)]
seqs = st.integers(min_value=0, max_value=2**63 - 1)
texts = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=30)
moments = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]))


@given(st.sampled_from(TEXT_SORTS), texts, seqs)
def test_a_text_position_comes_back_for_its_sort(sort: LeadSort, value: str, seq: int) -> None:
    cursor = encode_page_cursor(sort, Keyset(value, seq))
    assert decode_page_cursor(cursor, sort) == Keyset(value, seq)
    assert not in_arrival_order(cursor)


@given(st.sampled_from(["last_activity", "-last_activity"]), moments, seqs)
def test_an_activity_position_comes_back_as_the_same_moment(
    sort: LeadSort, moment: datetime, seq: int
) -> None:
    decoded = decode_page_cursor(encode_page_cursor(sort, Keyset(moment, seq)), sort)
    assert decoded == Keyset(moment, seq) and decoded.value is not None


@given(seqs)
def test_arrival_order_cursors_old_and_new_continue_in_arrival_order(seq: int) -> None:
    for cursor in (encode_page_cursor(None, Keyset(None, seq)), encode_cursor(seq)):
        assert in_arrival_order(cursor)
        assert decode_page_cursor(cursor, None) == Keyset(None, seq)


@given(st.sampled_from(SORTS), st.sampled_from(SORTS), texts, seqs)
def test_a_cursor_of_another_sort_is_refused(
    made_for: LeadSort, used_with: LeadSort, value: str, seq: int
) -> None:
    cursor = encode_page_cursor(made_for, Keyset(value, seq))
    if made_for != used_with:
        with pytest.raises(InvalidCursor):
            decode_page_cursor(cursor, used_with)


@pytest.mark.parametrize(
    ("position", "sort"),
    [
        pytest.param(5, "email", id="an arrival seq under a sort"),
        pytest.param(-1, None, id="a negative seq"),
        pytest.param(2**63, None, id="a seq beyond bigint"),
        pytest.param(["email", "a", 1.5], "email", id="a seq that is no integer"),
        pytest.param(["email", "a", True], "email", id="a seq that is a boolean"),
        pytest.param(["email", "a"], "email", id="two parts"),
        pytest.param({"sort": "email"}, "email", id="an object"),
        pytest.param(["email", None, 3], "email", id="no value for a sort without NULLs"),
        pytest.param(["email", 7, 3], "email", id="a value that is no text"),
        pytest.param(["", "a", 3], None, id="a value in arrival order"),
        pytest.param(["last_activity", "yesterday", 3], "last_activity", id="an activity that is no time"),
        pytest.param(["last_activity", "2026-03-02T09:30:00", 3], "last_activity", id="a time without zone"),
        pytest.param(["email", "a\u0000b", 3], "email", id="text no position holds"),
    ],
)
def test_cursors_this_api_never_returns_are_refused(position: object, sort: LeadSort | None) -> None:
    with pytest.raises(InvalidCursor):
        decode_page_cursor(encode_cursor(position), sort)


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", ""])
def test_what_is_no_cursor_at_all_is_refused_and_not_arrival_order(cursor: str) -> None:
    assert not in_arrival_order(cursor)
    with pytest.raises(InvalidCursor):
        decode_page_cursor(cursor, "email")


@pytest.mark.parametrize(
    ("sort", "after", "segments"),
    [
        pytest.param(None, None, 1, id="arrival order: one range"),
        pytest.param(None, Keyset(None, 9), 1, id="arrival order after a row"),
        pytest.param("email", None, 1, id="a column without NULLs: one range"),
        pytest.param("-status", Keyset("active", 9), 1, id="after a row, no NULLs"),
        pytest.param("company", None, 2, id="values, then the NULLs"),
        pytest.param("-company", Keyset("Alfa", 9), 2, id="after a value: the rest, then the NULLs"),
        pytest.param("name", Keyset(None, 9), 1, id="after a NULL: only the NULLs"),
        pytest.param("-last_activity", Keyset(None, 9), 1, id="after no activity: only the NULLs"),
    ],
)
def test_a_page_reads_the_ranges_after_its_cursor(
    sort: LeadSort | None, after: Keyset | None, segments: int
) -> None:
    found = page_segments(sort, after)
    assert len(found) == segments
    for segment in found:
        uses_search = sort is not None and sort.lstrip("-") in {"company", "name", "email"}
        assert (segment.source is not lead_view) == uses_search
        assert (segment.key is not None) == (sort is not None and sort.lstrip("-") in {"company", "name"})
        # Every range ends with seq, so an order is total and a boundary one (value, seq) pair.
        seq = (lead_search if uses_search else lead_view).c.seq
        assert getattr(segment.order_by[-1], "element", segment.order_by[-1]) is seq


@pytest.mark.parametrize(
    ("sort", "row", "value"),
    [
        (None, {}, None),
        ("company", {"company_name": "Čedok", "sort_key": b"\x01"}, "Čedok"),
        ("-company", {"company_name": None, "sort_key": None}, None),
        ("name", {"first_name": "Eva", "last_name": "Nová", "sort_key": b"\x01"}, "Nová Eva"),
        ("name", {"first_name": "Eva", "last_name": "Nová", "sort_key": None}, None),
        ("email", {"email": "eva@firma.cz"}, "eva@firma.cz"),
        ("-status", {"status": "active"}, "active"),
        (
            "last_activity",
            {"last_activity_at": datetime(2026, 3, 2, tzinfo=UTC)},
            datetime(2026, 3, 2, tzinfo=UTC),
        ),
    ],
)
def test_a_cursor_carries_the_text_a_sort_key_is_made_of(
    sort: LeadSort | None, row: dict[str, object], value: object
) -> None:
    assert sort_value(sort, SimpleNamespace(**row)) == value
