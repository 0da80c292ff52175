"""Imports in the list: each chunk's leads listed once, and how many of a finished import are on their way."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, Uuid, any_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Event, ImportCompleted, LeadImported, LeadStatus
from services.gateway.projection.notifications import notify_lead_changes
from services.gateway.projection.timeline import record_timeline
from services.gateway.search import grams, lead_search_text
from services.gateway.tables import (
    import_arrivals,
    import_listed,
    lead_counts,
    lead_search,
    lead_view,
    processed_events,
)
from services.runtime.bulk import copy_insert
from services.runtime.collation import person_name, sort_key

# The imports' own durable consumer (LeadImported and ImportCompleted). It starts at the stream's end when
# created: the consumer of every event still gets every LeadImported, and lists the ones before it.
IMPORTS_DURABLE = "gateway-lead-imports"
IMPORT_EVENTS = ("lead_imported", "import_completed")


async def project_imports(session: AsyncSession, event: Event) -> None:
    """The imports consumer (`IMPORTS_DURABLE`): lists each import's leads, and learns how many an import
    imported when it finishes, apart from the consumer of every event, so a backlog of verdicts never
    delays a new import's leads (or the count of those still arriving)."""
    match event:
        case LeadImported():
            await list_imported(session, event)
        case ImportCompleted():
            await record_import_completed(session, event)
        case _:
            pass


async def claim_import(session: AsyncSession, event: LeadImported) -> bool:
    """Whether the consumer of every event is to list this LeadImported: only if the imports consumer has
    not. It records the event as processed for that consumer, which then skips it; if that consumer is
    listing it right now, this waits for its commit (and then finds the record). So each import chunk is
    listed exactly once, whichever consumer reaches it first, and the events after it in the stream (its
    leads' verdicts) find its leads."""
    claimed = await session.execute(
        insert(processed_events)
        .values(consumer=IMPORTS_DURABLE, event_id=event.event_id)
        .on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
    )
    return claimed.first() is not None


async def list_imported(session: AsyncSession, event: LeadImported) -> None:
    """An import chunk's leads into the list (Pending, with their search keys and timeline entries), and
    announced to the open tables."""
    searchable = [
        lead_search_text(lead.email, lead.first_name, lead.last_name, lead.company_name, lead.city)
        for lead in event.leads
    ]
    inserted = await copy_insert(
        session,
        lead_view,
        _IMPORTED_COLUMNS,
        (
            (
                lead.lead_id,
                event.workspace_id,
                event.campaign_id,
                event.import_id,
                lead.email,
                lead.first_name,
                lead.last_name,
                lead.company_name,
                lead.phone,
                lead.website,
                lead.city,
                lead.industry,
                Jsonb(lead.custom),
                LeadStatus.PENDING.value,
                event.occurred_at,
                event.occurred_at,
                folded,
            )
            for lead, folded in zip(event.leads, searchable, strict=True)
        ),
        conflict_target=sql.SQL("(id)"),
        returning=("id", "seq"),
    )
    # The search grams and sort keys of the leads just inserted (a redelivered batch inserts none).
    imported = {lead.lead_id: (lead, folded) for lead, folded in zip(event.leads, searchable, strict=True)}
    keys = []
    for lead_id, seq in inserted:
        lead, folded = imported[lead_id]
        keys.append(
            (
                seq,
                _pg_array(grams(folded)),
                event.campaign_id,
                lead.company_name,
                lead.email,
                sort_key(lead.company_name),
                sort_key(person_name(lead.first_name, lead.last_name)),
            )
        )
    await copy_insert(
        session,
        lead_search,
        ("seq", "grams", "campaign_id", "company_name", "email", "company_key", "name_key"),
        keys,
        conflict_target=sql.SQL("(seq)"),
    )
    await record_timeline(
        session,
        event,
        [(lead.lead_id, {"import_id": str(event.import_id), "row": lead.row}) for lead in event.leads],
    )
    # How many of the import's leads are listed now: with ImportCompleted's count, the leads still arriving.
    await session.execute(
        insert(import_listed).values(
            import_id=event.import_id, campaign_id=event.campaign_id, n=len(event.leads)
        )
    )
    await notify_lead_changes(session, event)


async def record_import_completed(session: AsyncSession, event: ImportCompleted) -> None:
    await session.execute(
        insert(import_arrivals)
        .values(
            import_id=event.import_id,
            workspace_id=event.workspace_id,
            campaign_id=event.campaign_id,
            imported=event.counts.get("imported", 0),
            completed_at=event.occurred_at,
        )
        .on_conflict_do_nothing(index_elements=["import_id"])
    )
    # An open table learns that the import finished: the leads it still waits for are now "on the way".
    await notify_lead_changes(session, event)


async def arriving_leads(
    session: AsyncSession, workspace_id: UUID, campaign_ids: Sequence[UUID]
) -> dict[UUID, int]:
    """Per campaign, the leads of its finished imports not listed yet: ImportCompleted's count less the
    leads listed. Counting the leads listed, not the leads still there, means removing some never makes
    the others look on their way; the leads still there (`lead_counts`) stand in where that is the larger
    count (an import's chunks listed before gateway_0009 kept no tally). Never negative."""
    campaigns_given = any_(literal(list(campaign_ids), ARRAY(Uuid)))
    listed = (
        select(import_listed.c.import_id, func.sum(import_listed.c.n).label("n"))
        .where(import_listed.c.campaign_id == campaigns_given)
        .group_by(import_listed.c.import_id)
        .subquery("listed")
    )
    present = (
        select(lead_counts.c.import_id, func.sum(lead_counts.c.n).label("n"))
        .where(lead_counts.c.workspace_id == workspace_id, lead_counts.c.campaign_id == campaigns_given)
        .group_by(lead_counts.c.import_id)
        .subquery("present")
    )
    known = func.greatest(func.coalesce(listed.c.n, 0), func.coalesce(present.c.n, 0))
    missing = func.greatest(import_arrivals.c.imported - known, 0)
    rows = await session.execute(
        select(import_arrivals.c.campaign_id, cast(func.sum(missing), BigInteger).label("arriving"))
        .select_from(
            import_arrivals.outerjoin(listed, listed.c.import_id == import_arrivals.c.import_id).outerjoin(
                present, present.c.import_id == import_arrivals.c.import_id
            )
        )
        .where(
            import_arrivals.c.workspace_id == workspace_id, import_arrivals.c.campaign_id == campaigns_given
        )
        .group_by(import_arrivals.c.campaign_id)
    )
    return {row.campaign_id: int(row.arriving) for row in rows}


_IMPORTED_COLUMNS = (
    "id",
    "workspace_id",
    "campaign_id",
    "import_id",
    "email",
    "first_name",
    "last_name",
    "company_name",
    "phone",
    "website",
    "city",
    "industry",
    "custom",
    "status",
    "status_at",
    "last_activity_at",
    "search",
)


def _pg_array(values: list[int]) -> str:
    """A bigint[] in PostgreSQL's text form, for COPY."""
    return "{" + ",".join(map(str, values)) + "}"
