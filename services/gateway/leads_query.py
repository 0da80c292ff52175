"""Which leads of a campaign a request means: the list's filter, shared by the list, the CSV export and
bulk actions over "everything matching this filter"; the list's sort orders, keyset pages and totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import ColumnElement, FromClause, Table, and_, func, literal, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import LeadStatus
from contracts.text import SAFE_TEXT, MaybeText
from services.gateway.search import like_pattern, query_grams, search_words
from services.gateway.tables import lead_counts, lead_search, lead_view
from services.runtime.collation import person_name, sort_key

SEARCH_MAX = 200
# A query parameter's bound goes inside, before the check (see contracts/text.py).
SearchText = Annotated[str, StringConstraints(max_length=SEARCH_MAX), SAFE_TEXT]

ValidationValue = Literal["pending", "valid", "invalid", "unknown"]


class LeadFilter(BaseModel):
    """The same keys as the leads list's query parameters."""

    status: list[LeadStatus] | None = Field(default=None, description="Any of these statuses.")
    validation: ValidationValue | None = Field(default=None, description="This validation verdict.")
    q: MaybeText = Field(
        default=None,
        max_length=SEARCH_MAX,
        description="Words, each a substring of the email, first or last name, company or city (any "
        "field, any order); case- and accent-insensitive.",
    )
    import_id: UUID | None = Field(default=None, description="Leads brought by this import.")


def lead_conditions(
    workspace_id: UUID, campaign_id: UUID, lead_filter: LeadFilter
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        lead_view.c.campaign_id == campaign_id,
        lead_view.c.workspace_id == workspace_id,
    ]
    if lead_filter.status:
        conditions.append(lead_view.c.status.in_([s.value for s in lead_filter.status]))
    if lead_filter.validation:
        conditions.append(lead_view.c.validation == lead_filter.validation)
    if lead_filter.import_id:
        conditions.append(lead_view.c.import_id == lead_filter.import_id)
    if lead_filter.q and (words := search_words(lead_filter.q)):
        every_gram = query_grams(words)
        if every_gram:  # the GIN index narrows it down; LIKE is the exact recheck, word by word
            conditions.append(
                lead_view.c.seq.in_(
                    select(lead_search.c.seq).where(
                        lead_search.c.grams.contains(literal(every_gram, lead_search.c.grams.type))
                    )
                )
            )
        conditions += _words_occur(lead_view, words)
    return conditions


def _words_occur(table: Any, words: list[str]) -> list[ColumnElement[bool]]:
    """Each folded word occurs somewhere in the lead's folded text (any field, any order)."""
    return [table.c.search.like(like_pattern(word), escape="\\") for word in words]


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
# joined by seq. Company and name sort by their Czech collation keys (services/gateway/collation.py).
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
# ~90 ms), so beyond the cap the total is an estimate from a fixed page sample.
SEARCH_COUNT_CAP = 5_000
# Rows of lead_view (all campaigns) a search estimate samples: 10,000 is ~5 ms, and a search over the cap
# then has about 50 matches in the sample of a 1M campaign (±15%); more is steadier and slower.
ESTIMATE_SAMPLE_ROWS = 10_000


@dataclass(frozen=True)
class LeadTotal:
    value: int
    is_estimate: bool


def _searching(lead_filter: LeadFilter) -> bool:
    return bool(lead_filter.q and search_words(lead_filter.q))


def page_conditions(
    workspace_id: UUID, campaign_id: UUID, lead_filter: LeadFilter, total: LeadTotal
) -> list[ColumnElement[bool]]:
    """`lead_conditions` for reading a page, once the total is known.

    A search over the cap matches at least 1 lead in 200, so walking the sort's own index and testing
    `LIKE` finds a page's rows within a few thousand index entries (~2 ms). With the GIN condition present
    the planner (which underestimates the correlated grams' match set a hundredfold) reads and sorts every
    match instead: ~250 ms for 18,000 matches. Below the cap that is the right plan, and it is bounded.
    """
    if not (total.is_estimate and lead_filter.q and _searching(lead_filter)):
        return lead_conditions(workspace_id, campaign_id, lead_filter)
    conditions = lead_conditions(workspace_id, campaign_id, lead_filter.model_copy(update={"q": None}))
    return conditions + _words_occur(lead_view, search_words(lead_filter.q))


async def _counted(
    session: AsyncSession, workspace_id: UUID, campaign_id: UUID, lead_filter: LeadFilter
) -> int:
    """Exact, from lead_counts (kept by triggers): a sum over a few hundred rows whatever the size."""
    conditions = [lead_counts.c.campaign_id == campaign_id, lead_counts.c.workspace_id == workspace_id]
    if lead_filter.status:
        conditions.append(lead_counts.c.status.in_([s.value for s in lead_filter.status]))
    if lead_filter.validation:
        conditions.append(lead_counts.c.validation == lead_filter.validation)
    if lead_filter.import_id:
        conditions.append(lead_counts.c.import_id == lead_filter.import_id)
    total = await session.scalar(select(func.coalesce(func.sum(lead_counts.c.n), 0)).where(*conditions))
    return int(total or 0)


async def count_leads(
    session: AsyncSession, workspace_id: UUID, campaign_id: UUID, lead_filter: LeadFilter
) -> LeadTotal:
    """How many leads match: exact without `q` (and for searches up to SEARCH_COUNT_CAP matches), else an
    estimate no lower than the cap."""
    if not _searching(lead_filter):
        return LeadTotal(await _counted(session, workspace_id, campaign_id, lead_filter), False)
    conditions = lead_conditions(workspace_id, campaign_id, lead_filter)
    capped = select(literal(1)).select_from(lead_view).where(*conditions).limit(SEARCH_COUNT_CAP + 1)
    matched = int(await session.scalar(select(func.count()).select_from(capped.subquery())) or 0)
    if matched <= SEARCH_COUNT_CAP:
        return LeadTotal(matched, False)
    return LeadTotal(max(await _estimate(session, workspace_id, campaign_id, lead_filter), matched), True)


async def _estimate(
    session: AsyncSession, workspace_id: UUID, campaign_id: UUID, lead_filter: LeadFilter
) -> int:
    """The share of the campaign's leads matching in a page sample of lead_view (the same pages every
    time, so the figure does not jump between requests) times the exact count without `q`."""
    table_rows = await session.scalar(
        text(f"SELECT greatest(reltuples, 1) FROM pg_class WHERE oid = '{lead_view.fullname}'::regclass")
    )
    percent = min(100.0, 100.0 * ESTIMATE_SAMPLE_ROWS / float(table_rows or 1))
    sampled = lead_view.tablesample(func.system(percent), name="sampled", seed=literal(7))
    in_campaign = and_(sampled.c.campaign_id == campaign_id, sampled.c.workspace_id == workspace_id)
    words = search_words(lead_filter.q or "")
    row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(and_(*_words_occur(sampled, words))),
            )
            .select_from(sampled)
            .where(in_campaign, *_plain_conditions(sampled, lead_filter))
        )
    ).one()
    sample_size, sample_matches = int(row[0]), int(row[1])
    base = await _counted(session, workspace_id, campaign_id, lead_filter)
    if not sample_size:
        return 0
    return round(base * sample_matches / sample_size)


def _plain_conditions(table: Any, lead_filter: LeadFilter) -> list[ColumnElement[bool]]:
    """The filter's status/validation/import conditions on `table` (lead_view or a sample of it)."""
    conditions: list[ColumnElement[bool]] = []
    if lead_filter.status:
        conditions.append(table.c.status.in_([s.value for s in lead_filter.status]))
    if lead_filter.validation:
        conditions.append(table.c.validation == lead_filter.validation)
    if lead_filter.import_id:
        conditions.append(table.c.import_id == lead_filter.import_id)
    return conditions


def lead_filter_params(
    status_: Annotated[
        list[LeadStatus] | None, Query(alias="status", description="Any of these statuses (repeatable).")
    ] = None,
    validation: Annotated[
        ValidationValue | None, Query(description="Only leads with this validation verdict.")
    ] = None,
    q: Annotated[
        SearchText | None,
        Query(
            description="Words that must each occur in the email, a name, the company or the city "
            "(`katerina brno` finds Kateřina in Brno); case- and accent-insensitive. A `q` with nothing "
            "to search for (blanks, lone accents) is no filter here; a bulk action refuses it.",
        ),
    ] = None,
    import_id: Annotated[UUID | None, Query(description="Only leads brought by this import.")] = None,
) -> LeadFilter:
    """The leads list's filter parameters (a FastAPI dependency): the list, the export and anything else
    that means "these leads" read them the same way."""
    return LeadFilter(status=status_, validation=validation, q=q, import_id=import_id)
