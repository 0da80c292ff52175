"""The leads' SQL: which rows a filter means, how many there are (exact, or estimated for a broad search),
a page of them in a sort order, and one lead with its timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.leads.keyset import Keyset, LeadSort, page_segments
from services.gateway.leads.schemas import LeadFilter
from services.gateway.search import like_pattern, query_grams, search_words
from services.gateway.tables import lead_counts, lead_events, lead_search, lead_view


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


async def page_rows(
    session: AsyncSession,
    filters: list[ColumnElement[bool]],
    sort: LeadSort | None,
    after: Keyset | None,
    wanted: int,
) -> list[Any]:
    """Up to `wanted` rows of lead_view matching `filters`, after `after` in `sort` order, segment by
    segment (see `page_segments`); a collated sort's rows carry their stored `sort_key` too."""
    rows: list[Any] = []
    for segment in page_segments(sort, after):
        missing = wanted - len(rows)
        if missing <= 0:
            break
        statement = (
            select(lead_view, *([segment.key] if segment.key is not None else []))
            .select_from(segment.source)
            .where(and_(*filters, *segment.conditions))
            .order_by(*segment.order_by)
            .limit(missing)
        )
        rows.extend((await session.execute(statement)).all())
    return rows


async def lead_of_workspace(session: AsyncSession, workspace_id: UUID, lead_id: UUID) -> Any:
    """The lead's row of lead_view, None if it is not this workspace's (or not there)."""
    return (
        await session.execute(
            select(lead_view).where(lead_view.c.id == lead_id, lead_view.c.workspace_id == workspace_id)
        )
    ).first()


async def timeline_of(session: AsyncSession, workspace_id: UUID, lead_id: UUID) -> list[Any]:
    """Every timeline entry of the lead, oldest first: (occurred_at, event_type, source, data)."""
    events = await session.execute(
        select(lead_events.c.occurred_at, lead_events.c.event_type, lead_events.c.source, lead_events.c.data)
        .where(lead_events.c.lead_id == lead_id, lead_events.c.workspace_id == workspace_id)
        .order_by(lead_events.c.occurred_at, lead_events.c.id)
    )
    return list(events.all())
