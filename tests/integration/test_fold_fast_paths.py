"""The SQL that restates the contracts' status fold, held equal to the fold on a real PostgreSQL.

Generated sequences of events over two campaigns (three imports) — verdicts of several runs (single and
batched), automatic status facts, manual status changes of some of a campaign's leads at generated times,
removals, and bulk-job steps (`jobs.queries.apply_step`: a status change or removal, by ids or by a status
filter) — are applied through the gateway's SQL paths. Afterwards:

- every lead's stored state is `contracts.lead_status.apply` folded over its events in the order applied
  (the manual change's CASE, `manual_change_values`, in the projection's statement and in the bulk step's
  statement, where each row carries its batch's event id);
- a bulk step changes exactly the leads whose folded state its selection names;
- `lead_counts` (kept by statement triggers on lead_view) sums to a recount of lead_view per group, and per
  campaign and status to the fold's statuses, before and after `lead_counts_fold` compacts it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, cast, func, select, text

from contracts import (
    EmailBounced,
    EmailSent,
    Event,
    LeadEvent,
    LeadImported,
    LeadState,
    LeadStatus,
    LeadStatusChanged,
    LeadUnsubscribed,
    LeadValidated,
    ReplyDetected,
    Verdict,
    apply,
)
from contracts.events import ImportedLead, LeadCompleted, LeadsRemoved, LeadsValidated, ValidatedLead
from services.gateway.jobs.queries import JOB_KIND, apply_step
from services.gateway.projection.consumer import project, project_batch
from services.gateway.projection.lead_events import STATE_COLUMNS
from services.gateway.tables import jobs, lead_counts, lead_view
from services.runtime.db import create_engine, session_factory

# Leads 0-2 come with campaign A's first import, 3-4 with its second, 5-7 with campaign B's import.
IMPORTS = [(0, 0, 3), (0, 3, 5), (1, 5, 8)]  # (campaign, first lead, end)
LEADS = 8
VERDICTS = [Verdict.VALID, Verdict.INVALID, Verdict.UNKNOWN]
STATUSES = list(LeadStatus)


def campaign_of(lead: int) -> int:
    return 0 if lead < 5 else 1


def leads_of(campaign: int) -> range:
    return range(0, 5) if campaign == 0 else range(5, LEADS)


@dataclass(frozen=True)
class Step:
    """One step for lead number `lead`: for a verdict batch, a manual change or a bulk job by ids, the
    leads of its campaign from `lead` on; a bulk job by filter selects its campaign's leads whose status
    is `STATUSES[value]`."""

    kind: str
    lead: int
    minutes: int
    value: int
    run: int = 0


KINDS = [
    "validated",
    "validated_batch",
    "sent",
    "bounced",
    "replied",
    "unsubscribed",
    "completed",
    "manual",
    "removed",
    "bulk_status_ids",
    "bulk_status_filter",
    "bulk_remove_ids",
    "bulk_remove_filter",
]

steps = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(KINDS),
        lead=st.integers(0, LEADS - 1),
        # Five-minute ticks around the time the sequence starts (ties are common), so manual changes
        # fall before and after the bulk steps (stamped with the real time when they run).
        minutes=st.integers(-6, 6),
        value=st.integers(0, len(STATUSES) - 1),
        run=st.integers(0, 2),
    ),
    min_size=1,
    max_size=20,
)


@dataclass
class World:
    workspace_id: uuid.UUID
    campaigns: list[uuid.UUID]
    import_ids: list[uuid.UUID]
    ids: list[uuid.UUID]
    start: datetime
    imported_at: datetime


def event_of(world: World, n: int, step: Step) -> Event:
    """The event of a (non-bulk) step; its id depends on its place in the sequence only, its time is
    `start` plus `minutes` five-minute ticks."""
    campaign = campaign_of(step.lead)
    common: dict[str, Any] = {
        "workspace_id": world.workspace_id,
        "campaign_id": world.campaigns[campaign],
        # Ids in no particular order of the sequence: a later manual change at the same time may lose.
        "event_id": uuid.uuid5(uuid.NAMESPACE_OID, f"step {n}"),
        "occurred_at": world.start + timedelta(minutes=5 * step.minutes),
    }
    lead: dict[str, Any] = {**common, "lead_id": world.ids[step.lead]}
    email = f"lead{step.lead}@firma.cz"
    following = [world.ids[i] for i in leads_of(campaign) if i >= step.lead]
    match step.kind:
        case "validated":
            return LeadValidated(
                **lead,
                email=email,
                verdict=VERDICTS[step.value % 3],
                reason=f"r{step.value}",
                mx=None,
                smtp_code=None,
                run=step.run,
            )
        case "validated_batch":
            return LeadsValidated(
                **common,
                leads=[
                    ValidatedLead(
                        lead_id=world.ids[i],
                        email=f"lead{i}@firma.cz",
                        verdict=VERDICTS[(step.value + i) % 3],
                        reason=f"b{(step.value + i) % 2}",
                        smtp_code=550,
                        run=step.run,
                    )
                    for i in leads_of(campaign)
                    if i >= step.lead
                ],
            )
        case "sent":
            return EmailSent(
                **lead,
                step=step.value % 3 + 1,
                total_steps=3,
                message_id=f"m{n}",
                mailbox="a@b.cz",
                mailbox_id=uuid.UUID(int=1),
            )
        case "bounced":
            return EmailBounced(**lead, source="dsn", kind="hard", smtp_code=550, email=email)
        case "replied":
            return ReplyDetected(**lead, message_id=f"r{n}", from_address=email)
        case "unsubscribed":
            return LeadUnsubscribed(**lead, email=email, source="link")
        case "completed":
            return LeadCompleted(**lead, total_steps=3)
        case "manual":
            return LeadStatusChanged(
                **common, lead_ids=following, status=STATUSES[step.value % len(STATUSES)], changed_by="test"
            )
        case "removed":
            return LeadsRemoved(**common, lead_ids=[world.ids[step.lead]], removed_by="test")
    raise AssertionError(step.kind)


def fold_all(world: World, applied: list[Event]) -> dict[uuid.UUID, LeadState | None]:
    """Each lead's state by the contracts' fold of the events in the order applied (None once removed)."""
    states: dict[uuid.UUID, LeadState | None] = {
        lead_id: LeadState(LeadStatus.PENDING, world.imported_at) for lead_id in world.ids
    }
    for event in applied:
        singles = event.one_by_one() if isinstance(event, LeadsValidated) else [event]
        for single in singles:
            match single:
                case LeadsRemoved():
                    for lead_id in single.lead_ids:
                        states[lead_id] = None
                case LeadStatusChanged():
                    for lead_id in single.lead_ids:
                        if (state := states[lead_id]) is not None:
                            states[lead_id] = apply(state, single)
                case LeadEvent():
                    if (state := states[single.lead_id]) is not None:
                        states[single.lead_id] = apply(state, single)
    return states


async def stored_states(session: Any, world: World) -> dict[uuid.UUID, LeadState | None]:
    rows = {
        row.id: row
        for row in await session.execute(
            select(lead_view.c.id, *STATE_COLUMNS).where(lead_view.c.workspace_id == world.workspace_id)
        )
    }
    stored: dict[uuid.UUID, LeadState | None] = {}
    for lead_id in world.ids:
        row = rows.get(lead_id)
        stored[lead_id] = (
            None
            if row is None
            else LeadState(
                LeadStatus(row.status),
                row.status_at,
                row.manual_at,
                row.manual_id,
                None if row.base_status is None else LeadStatus(row.base_status),
                row.base_at,
                row.verdict_run,
                row.verdict_invalid_at,
            )
        )
    return stored


async def import_all(session: Any, world: World) -> None:
    for (campaign, first, end), import_id in zip(IMPORTS, world.import_ids, strict=True):
        await project(
            session,
            LeadImported(
                workspace_id=world.workspace_id,
                campaign_id=world.campaigns[campaign],
                import_id=import_id,
                chunk=0,
                occurred_at=world.imported_at,
                leads=[
                    ImportedLead(lead_id=world.ids[i], email=f"lead{i}@firma.cz", row=i - first + 1)
                    for i in range(first, end)
                ],
            ),
        )


async def bulk_step(
    session: Any, world: World, step: Step, states: dict[uuid.UUID, LeadState | None]
) -> list[Event]:
    """A bulk job made as `start_bulk_action` makes it, and its one step (all of a campaign's leads fit in
    one); checks that it matched exactly the leads the fold's states say its selection names."""
    campaign = campaign_of(step.lead)
    present = [i for i in leads_of(campaign) if states[world.ids[i]] is not None]
    by_ids = step.kind.endswith("_ids")
    chosen_status = STATUSES[step.value % len(STATUSES)]
    if by_ids:
        selected = [i for i in present if i >= step.lead]
    else:
        selected = [
            i for i in present if (s := states[world.ids[i]]) is not None and s.status is chosen_status
        ]
    status = STATUSES[(step.value + step.run) % len(STATUSES)]
    max_seq = await session.scalar(
        select(func.coalesce(func.max(lead_view.c.seq), 0)).where(
            lead_view.c.campaign_id == world.campaigns[campaign]
        )
    )
    params: dict[str, Any] = {
        "action": "remove" if "remove" in step.kind else "status",
        "status": None if "remove" in step.kind else status.value,
        "reason": None,
        "ids": [str(world.ids[i]) for i in leads_of(campaign) if i >= step.lead] if by_ids else None,
        "filter": None if by_ids else {"status": [chosen_status.value]},
        "ignored_ids": [],
        "max_seq": int(max_seq),
        "cursor": 0,
        "batches": 0,
        "sent": 0,
    }
    job = (
        await session.execute(
            jobs.insert()
            .values(
                id=uuid.uuid4(),
                workspace_id=world.workspace_id,
                campaign_id=world.campaigns[campaign],
                kind=JOB_KIND,
                total=len(selected),
                params=params,
                created_by="test",
            )
            .returning(jobs)
        )
    ).one()
    matched, _, events = await apply_step(session, job)
    assert matched == len(selected)
    changed = [lead_id for event in events for lead_id in getattr(event, "lead_ids", [])]
    assert changed == [world.ids[i] for i in selected]  # in seq order, which is import order here
    return events


async def counts_by_group(
    session: Any, world: World
) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    """`lead_counts` summed per group, and the same groups recounted from lead_view."""
    groups = ("campaign_id", "import_id", "status", "validation", "validation_reason")
    tracked = await session.execute(
        select(*(lead_counts.c[g] for g in groups), cast(func.sum(lead_counts.c.n), BigInteger))
        .where(lead_counts.c.workspace_id == world.workspace_id)
        .group_by(*(lead_counts.c[g] for g in groups))
    )
    recount = await session.execute(
        select(*(lead_view.c[g] for g in groups), func.count())
        .where(lead_view.c.workspace_id == world.workspace_id)
        .group_by(*(lead_view.c[g] for g in groups))
    )
    return _nonzero(tracked), _nonzero(recount)


def _nonzero(rows: Any) -> Counter[tuple[Any, ...]]:
    """Rows of (group..., n) as a Counter, without the groups that sum to zero."""
    return Counter({tuple(row[:-1]): int(row[-1]) for row in rows if row[-1]})


async def check_counts(session: Any, world: World, folded: dict[uuid.UUID, LeadState | None]) -> None:
    tracked, recount = await counts_by_group(session, world)
    assert tracked == recount
    by_status: Counter[tuple[Any, ...]] = Counter()
    for (campaign_id, _, status, _, _), n in tracked.items():
        by_status[campaign_id, status] += n
    expected: Counter[tuple[Any, ...]] = Counter()
    for i, lead_id in enumerate(world.ids):
        if (state := folded[lead_id]) is not None:
            expected[world.campaigns[campaign_of(i)], state.status.value] += 1
    assert +by_status == expected


async def run(database_url: str, sequence: list[Step]) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        start = datetime.now(UTC)
        world = World(
            workspace_id=uuid.uuid4(),
            campaigns=[uuid.uuid4(), uuid.uuid4()],
            import_ids=[uuid.uuid4() for _ in IMPORTS],
            ids=[uuid.uuid4() for _ in range(LEADS)],
            start=start,
            imported_at=start - timedelta(hours=1),
        )
        async with sessions() as session, session.begin():
            await import_all(session, world)
        applied: list[Event] = []
        pending: list[Event] = []  # a run of the projection's events, applied as one consumer batch
        for n, step in enumerate(sequence):
            if not step.kind.startswith("bulk"):
                pending.append(event_of(world, n, step))
                continue
            if pending:
                async with sessions() as session, session.begin():
                    await project_batch(session, pending)
                applied += pending
                pending = []
            async with sessions() as session, session.begin():
                applied += await bulk_step(session, world, step, fold_all(world, applied))
        if pending:
            async with sessions() as session, session.begin():
                await project_batch(session, pending)
            applied += pending
        folded = fold_all(world, applied)
        async with sessions() as session:
            assert await stored_states(session, world) == folded
            await check_counts(session, world, folded)
        async with sessions() as session, session.begin():
            for campaign_id in world.campaigns:
                await session.execute(text("SELECT gateway.lead_counts_fold(:c)"), {"c": campaign_id})
        async with sessions() as session:
            await check_counts(session, world, folded)
    finally:
        await engine.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
# A manual change after a bulk one, one before it (hidden), then a bulk change by the status it left.
@example(
    sequence=[
        Step("validated_batch", 0, -4, 1),
        Step("bulk_status_ids", 1, 0, 2),
        Step("manual", 0, 2, 4),
        Step("manual", 2, -2, 0),
        Step("bulk_status_filter", 0, 0, 4),
    ]
)
# A bulk removal by filter, then events about the removed leads; an invalid verdict under a bulk change.
@example(
    sequence=[
        Step("validated", 5, -1, 1),
        Step("bulk_remove_filter", 5, 0, 5),
        Step("sent", 5, 1, 0),
        Step("validated", 6, -5, 1, run=1),
        Step("bulk_status_ids", 6, 0, 0),
        Step("validated", 6, 4, 2, run=2),
    ]
)
# Manual changes at the same time: the higher event id wins, whichever is applied last (steps 0 and 1 have
# ids in increasing order, steps 2 and 3, in the other campaign, in decreasing order).
@example(
    sequence=[
        Step("manual", 0, 1, 1),
        Step("manual", 1, 1, 2),
        Step("manual", 5, 3, 3),
        Step("manual", 6, 3, 4),
    ]
)
def test_manual_changes_bulk_steps_and_counts_are_the_status_fold(
    migrated_database_url: str, sequence: list[Step]
) -> None:
    asyncio.run(run(migrated_database_url, sequence))
