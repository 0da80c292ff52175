"""The leads list's sort orders and keyset pages: which index ranges hold the rows after a page's last row,
and the opaque cursor that carries that position from one request to the next. Builds SQL, runs none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, FromClause, Table, literal, tuple_

from contracts.text import is_safe_text
from services.gateway.tables import lead_search, lead_view
from services.runtime.collation import person_name, sort_key
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor

LeadSort = Literal[
    "last_activity",
    "-last_activity",
    "company",
    "-company",
    "name",
    "-name",
    "email",
    "-email",
    "status",
    "-status",
]

# Each sort is served by an index (campaign_id, column, seq): forwards for ascending, backwards for
# descending; `seq` breaks ties, so every order is total and a page boundary is one (value, seq) pair. The
# columns that change (status, last activity) are indexed in lead_view; what never changes (the company
# and name sort keys, the email), in lead_search (see tables.py: out of the path of every status change),
# joined by seq. Company and name sort by their Czech collation keys (services/runtime/collation.py).
_SORT_KEYS: dict[str, tuple[Table, str]] = {
    "last_activity": (lead_view, "last_activity_at"),
    "company": (lead_search, "company_key"),
    "name": (lead_search, "name_key"),
    "email": (lead_search, "email"),
    "status": (lead_view, "status"),
}
# A cursor of these carries the text (what a person reads), and its key is computed from it again.
_COLLATED = {"company", "name"}
_NULLABLE = {"last_activity", "company", "name"}

SortValue = str | datetime | None


@dataclass(frozen=True)
class Keyset:
    """Where a page ended: the last row's sort value (None for NULL) and its seq."""

    value: SortValue
    seq: int


@dataclass(frozen=True)
class PageSegment:
    """One index range of a page, read in order; a page reads segments until it has enough rows.

    `source` is what the page selects lead_view's rows from: lead_view, or lead_view joined to the table
    whose index the range walks."""

    conditions: list[ColumnElement[bool]]
    order_by: list[ColumnElement[Any]]
    source: FromClause = lead_view
    # The stored sort key of a collated sort, selected as `sort_key` beside the row: whether a row has one
    # decides which segment a cursor after it continues in.
    key: ColumnElement[Any] | None = None


def sort_value(sort: LeadSort | None, row: Any) -> SortValue:
    """The row's value of the sort column (what a cursor after this row carries): for company and name
    the text their key is made of, None when the row has no stored key (`sort_key`, see PageSegment)."""
    match None if sort is None else sort.lstrip("-"):
        case None:
            return None
        case "company":
            return row.company_name if row.sort_key is not None else None
        case "name":
            return person_name(row.first_name, row.last_name) if row.sort_key is not None else None
        case "last_activity":
            value: SortValue = row.last_activity_at
            return value
        case name:
            text: str = getattr(row, name)
            return text


def is_datetime_sort(sort: LeadSort | None) -> bool:
    return sort is not None and sort.lstrip("-") == "last_activity"


def nullable_sort(sort: LeadSort | None) -> bool:
    return sort is not None and sort.lstrip("-") in _NULLABLE


def page_segments(sort: LeadSort | None, after: Keyset | None) -> list[PageSegment]:
    """The ranges, in order, holding the rows after `after` in `sort` order (None: arrival order).

    NULLs come last in both directions (an empty company is never the "top" company). Rather than one
    `(col, seq) > (v, s) OR col IS NULL` condition, which no index range serves, the non-NULL values and
    the NULLs are two segments, each a plain range of the same (campaign_id, col, seq) index.
    """
    if sort is None:
        return [PageSegment([lead_view.c.seq > after.seq] if after else [], [lead_view.c.seq])]
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    keys, column_name = _SORT_KEYS[name]
    seq, column = keys.c.seq, keys.c[column_name]
    source: FromClause = lead_view
    joined: list[ColumnElement[bool]] = []
    if keys is lead_search:
        source = lead_view.join(lead_search, lead_search.c.seq == lead_view.c.seq)
        # Said of lead_search too, so the planner walks its (campaign_id, column, seq) index.
        joined = [lead_search.c.campaign_id == lead_view.c.campaign_id]

    key = column.label("sort_key") if name in _COLLATED else None

    def ordered(expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return expr.desc() if descending else expr.asc()

    def beyond(left: ColumnElement[Any], right: Any) -> ColumnElement[bool]:
        comparison: ColumnElement[bool] = left < right if descending else left > right
        return comparison

    segments: list[PageSegment] = []
    in_nulls = after is not None and after.value is None
    if not in_nulls:
        values: list[ColumnElement[bool]] = [column.is_not(None)] if name in _NULLABLE else []
        if after is not None:
            boundary = (
                literal(sort_key(str(after.value)), column.type)
                if name in _COLLATED
                else literal(after.value, column.type)
            )
            values.append(beyond(tuple_(column, seq), tuple_(boundary, after.seq)))
        segments.append(PageSegment(joined + values, [ordered(column), ordered(seq)], source, key))
    if name in _NULLABLE:
        nulls: list[ColumnElement[bool]] = [column.is_(None)]
        if in_nulls:
            assert after is not None
            nulls.append(beyond(seq, after.seq))
        segments.append(PageSegment(joined + nulls, [ordered(seq)], source, key))
    return segments


# Up to this many matches a search's total is exact: a capped count over the GIN match set, ~10 ms at
# 5,000 in a campaign of 1M. Counting every match of a broad search costs ~5 µs a match (18,000 matches:


# Newest first is what a person opening the table expects to see.
DEFAULT_SORT: LeadSort = "-last_activity"
NOT_FOR_THIS_SORT = "`cursor` is not one this API returned for this `sort`."


def encode_page_cursor(sort: LeadSort | None, after: Keyset) -> str:
    """Opaque to clients: the sort it belongs to and the last row's (sort value, seq)."""
    value = after.value.isoformat() if isinstance(after.value, datetime) else after.value
    return encode_cursor([sort or "", value, after.seq])


def in_arrival_order(cursor: str) -> bool:
    """A cursor of arrival order, the default before `-last_activity` was: such pages continue as they
    began (a client that stored one is not sent back to the first page of another order)."""
    try:
        decoded = decode_cursor(cursor)
    except InvalidCursor:
        return False
    return type(decoded) is int or (isinstance(decoded, list) and len(decoded) == 3 and decoded[0] == "")


def decode_page_cursor(cursor: str, sort: LeadSort | None) -> Keyset:
    """The position a cursor holds, checked against the request's sort; InvalidCursor for anything else."""
    invalid = InvalidCursor(NOT_FOR_THIS_SORT)
    try:
        decoded = decode_cursor(cursor)
    except InvalidCursor as exc:
        raise invalid from exc
    if type(decoded) is int:  # cursors from before sorting: the seq of arrival order
        if sort is not None or not 0 <= decoded < 2**63:
            raise invalid
        return Keyset(None, decoded)
    if not (isinstance(decoded, list) and len(decoded) == 3 and type(decoded[2]) is int):
        raise invalid
    cursor_sort, value, seq = decoded
    if cursor_sort != (sort or "") or not 0 <= seq < 2**63:
        raise invalid
    if value is None:  # arrival order carries no value; a NULL company or activity is None too
        if sort is not None and not nullable_sort(sort):
            raise invalid
        return Keyset(None, seq)
    if sort is None or not isinstance(value, str) or not is_safe_text(value):
        raise invalid
    if not is_datetime_sort(sort):
        return Keyset(value, seq)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise invalid from exc
    if moment.tzinfo is None:
        raise invalid
    return Keyset(moment, seq)
