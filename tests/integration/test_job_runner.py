"""The bulk job runner on a real PostgreSQL: each batch is applied to lead_view, the timelines and the
outbox in one transaction, and marked as processed for the projection (which skips it when it arrives)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from contracts import LeadState, LeadStatus, LeadStatusChanged, LeadValidated, Verdict, fold, parse_event
from contracts.events import LeadsRemoved, LeadsValidated, ValidatedLead
from services.gateway.domain import JobState
from services.gateway.jobs.queries import JOB_KIND, batch_event_id
from services.gateway.jobs.runner import JobRunner
from services.gateway.leads.queries import count_leads
from services.gateway.leads.schemas import LeadFilter
from services.gateway.projection.consumer import PROJECTION_DURABLE, project
from services.gateway.projection.lead_events import STATE_COLUMNS
from services.gateway.projection.notifications import LEAD_CHANGES_CHANNEL
from services.gateway.search import grams, search_text
from services.gateway.tables import jobs, lead_events, lead_search, lead_view, metadata, outbox
from services.runtime.db import psycopg_conninfo
from services.runtime.service import Service
from services.runtime.settings import Settings

LEADS = 6_500  # two steps (5,000 + 1,500 leads), seven batches (six of 1,000, one of 500)


@pytest.fixture
async def runner(migrated_database_url: str, nats_url: str) -> AsyncIterator[JobRunner]:
    service = Service(
        name="gateway",
        metadata=metadata,
        settings=Settings(nats_url=nats_url, database_url=migrated_database_url),
    )
    yield JobRunner(service)
    await service.engine.dispose()


async def campaign(runner: JobRunner, count: int) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    """A campaign of `count` pending leads written straight into the read model (as the projection
    would), with their search keys; returns (workspace, campaign, lead ids in arrival order)."""
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(count)]
    leads = [(lead_id, f"lead{i}@firma.cz", f"Firma {i % 7}") for i, lead_id in enumerate(ids)]
    folded = {lead_id: search_text((email, None, None, company)) for lead_id, email, company in leads}
    async with runner.service.sessions() as session, session.begin():
        inserted = await session.execute(
            lead_view.insert().returning(lead_view.c.id, lead_view.c.seq),
            [
                {
                    "id": lead_id,
                    "workspace_id": workspace_id,
                    "campaign_id": campaign_id,
                    "email": email,
                    "company_name": company,
                    "search": folded[lead_id],
                }
                for lead_id, email, company in leads
            ],
        )
        seq_of = {row.id: row.seq for row in inserted}
        await session.execute(
            lead_search.insert(),
            [
                {
                    "seq": seq_of[lead_id],
                    "grams": grams(folded[lead_id]),
                    "campaign_id": campaign_id,
                    "company_name": company,
                    "email": email,
                }
                for lead_id, email, company in leads
            ],
        )
    return workspace_id, campaign_id, ids


async def start_job(
    runner: JobRunner, workspace_id: uuid.UUID, campaign_id: uuid.UUID, **params: Any
) -> uuid.UUID:
    job_id = uuid.uuid4()
    async with runner.service.sessions() as session, session.begin():
        max_seq = await session.scalar(
            select(func.max(lead_view.c.seq)).where(lead_view.c.campaign_id == campaign_id)
        )
        await session.execute(
            jobs.insert().values(
                id=job_id,
                workspace_id=workspace_id,
                campaign_id=campaign_id,
                kind=JOB_KIND,
                state=JobState.RUNNING,
                total=LEADS,
                params={
                    "reason": None,
                    "ids": None,
                    "filter": {},
                    "ignored_ids": [],
                    "max_seq": max_seq,
                    "cursor": 0,
                    "batches": 0,
                    "sent": 0,
                    **params,
                },
                created_by="Ops (lf_1234567…)",
            )
        )
    return job_id


async def run_to_completion(runner: JobRunner, job_id: uuid.UUID) -> int:
    steps = 1
    while await runner.step(job_id):
        steps += 1
    return steps


async def events_of(runner: JobRunner, job_id: uuid.UUID, batches: int) -> list[Any]:
    ids = [batch_event_id(job_id, batch) for batch in range(batches)]
    async with runner.service.sessions() as session:
        rows = (await session.execute(select(outbox.c.event_id, outbox.c.payload))).all()
    payloads = {row.event_id: row.payload for row in rows}
    return [parse_event(payloads[event_id]) for event_id in ids]


async def test_a_status_job_applies_each_batch_itself_and_the_projection_skips_it(runner: JobRunner) -> None:
    workspace_id, campaign_id, ids = await campaign(runner, LEADS)
    # One lead already has a later manual change (made after this job's batches): it keeps its status.
    later = datetime.now(UTC) + timedelta(hours=1)
    async with runner.service.sessions() as session, session.begin():
        await session.execute(
            lead_view.update()
            .where(lead_view.c.id == ids[1500])
            .values(status="replied", manual_at=later, manual_id=uuid.uuid4())
        )
    job_id = await start_job(runner, workspace_id, campaign_id, action="set_status", status="unsubscribed")

    async with await psycopg.AsyncConnection.connect(
        psycopg_conninfo(runner.service.database_url), autocommit=True
    ) as listener:
        await listener.execute(f"LISTEN {LEAD_CHANGES_CHANNEL}")
        assert await run_to_completion(runner, job_id) == 2
        announced: set[str] = set()
        async for notice in listener.notifies(timeout=2.0, stop_after=1000):
            announced.update(json.loads(notice.payload)["lead_ids"])
            if len(announced) == LEADS:
                break
    assert announced == {str(lead_id) for lead_id in ids}  # open tables hear of every lead

    events = await events_of(runner, job_id, 7)
    assert all(isinstance(e, LeadStatusChanged) for e in events)
    assert [e.lead_ids for e in events] == [ids[i : i + 1000] for i in range(0, LEADS, 1000)]  # in order
    async with runner.service.sessions() as session:
        job = (await session.execute(select(jobs).where(jobs.c.id == job_id))).one()
        assert (job.state, job.done, job.params["sent"], job.params["batches"]) == (
            "completed",
            LEADS,
            LEADS,
            7,
        )
        # Listed changed as the job completes, each with the manual change of its batch's event.
        rows = {
            row.id: row
            for row in await session.execute(
                select(
                    lead_view.c.id, lead_view.c.status, lead_view.c.manual_id, lead_view.c.last_activity_at
                ).where(lead_view.c.campaign_id == campaign_id)
            )
        }
        for event in events:
            for lead_id in event.lead_ids:
                if lead_id != ids[1500]:
                    assert rows[lead_id].status == "unsubscribed"
                    assert rows[lead_id].manual_id == event.event_id
                assert rows[lead_id].last_activity_at >= event.occurred_at
        assert rows[ids[1500]].status == "replied"  # the later manual change wins
        # One timeline entry per lead, at the event's time, saying who did it.
        entries = (
            await session.execute(
                select(
                    lead_events.c.lead_id,
                    lead_events.c.event_id,
                    lead_events.c.occurred_at,
                    lead_events.c.data,
                ).where(lead_events.c.workspace_id == workspace_id)
            )
        ).all()
        assert len(entries) == LEADS
        event_of = {lead_id: e for e in events for lead_id in e.lead_ids}
        for entry in entries:
            event = event_of[entry.lead_id]
            assert (entry.event_id, entry.occurred_at) == (event.event_id, event.occurred_at)
            assert entry.data == {
                "status": "unsubscribed",
                "changed_by": "Ops (lf_1234567…)",
                "reason": None,
                "job_id": str(job_id),
            }
        # The projection's consumer will find each event already processed and skip it.
        processed = set(
            await session.scalars(
                select(runner.service.processed_events.c.event_id).where(
                    runner.service.processed_events.c.consumer == PROJECTION_DURABLE
                )
            )
        )
        assert {e.event_id for e in events} <= processed
        # The trigger-kept totals follow.
        total = await count_leads(session, workspace_id, campaign_id, LeadFilter(status=["unsubscribed"]))
        assert total.value == LEADS - 1


async def test_a_remove_job_deletes_the_leads_and_keeps_their_timeline(runner: JobRunner) -> None:
    workspace_id, campaign_id, ids = await campaign(runner, LEADS)
    # Every word must match: "Firma 3" companies, and leads with a 3 in their address (lead3@, lead13@, …).
    job_id = await start_job(
        runner, workspace_id, campaign_id, action="remove", status=None, filter={"q": "firma 3"}
    )
    gone = [lead_id for i, lead_id in enumerate(ids) if i % 7 == 3 or "3" in str(i)]
    assert await run_to_completion(runner, job_id) == 1
    events = await events_of(runner, job_id, -(-len(gone) // 1000))
    assert all(isinstance(event, LeadsRemoved) for event in events)
    assert [lead_id for event in events for lead_id in event.lead_ids] == gone
    assert {event.removed_by for event in events} == {"Ops (lf_1234567…)"}
    async with runner.service.sessions() as session:
        left = set(
            await session.scalars(select(lead_view.c.id).where(lead_view.c.campaign_id == campaign_id))
        )
        assert left == set(ids) - set(gone)
        keys = await session.scalar(
            select(func.count()).select_from(lead_search).where(lead_search.c.campaign_id == campaign_id)
        )
        assert keys == len(left)
        tombstones = set(
            await session.scalars(
                select(lead_events.c.lead_id).where(
                    lead_events.c.workspace_id == workspace_id, lead_events.c.event_type == "leads_removed"
                )
            )
        )
        assert tombstones == set(gone)
        assert (await count_leads(session, workspace_id, campaign_id, LeadFilter())).value == len(left)


async def test_a_status_job_replaces_an_invalid_verdict_as_the_status_fold_does(runner: JobRunner) -> None:
    workspace_id, campaign_id, ids = await campaign(runner, 3)

    def verdicts(verdict: Verdict, run: int, at: datetime) -> LeadsValidated:
        return LeadsValidated(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            occurred_at=at,
            leads=[
                ValidatedLead(lead_id=i, email=f"lead{n}@firma.cz", verdict=verdict, reason="r", run=run)
                for n, i in enumerate(ids)
            ],
        )

    poisoned = verdicts(Verdict.INVALID, 0, datetime.now(UTC) - timedelta(minutes=5))
    async with runner.service.sessions() as session, session.begin():
        await project(session, poisoned)
    job_id = await start_job(runner, workspace_id, campaign_id, action="set_status", status="pending")
    assert await run_to_completion(runner, job_id) == 1
    (changed,) = await events_of(runner, job_id, 1)
    rerun = verdicts(Verdict.VALID, 1, datetime.now(UTC) + timedelta(minutes=5))

    async def states() -> list[LeadState]:
        async with runner.service.sessions() as session:
            rows = {
                row.id: row
                for row in await session.execute(
                    select(lead_view.c.id, *STATE_COLUMNS).where(lead_view.c.campaign_id == campaign_id)
                )
            }
        return [stored(rows[lead_id]) for lead_id in ids]

    assert await states() == [fold([*one_of(poisoned, i), changed]) for i in ids]
    async with runner.service.sessions() as session, session.begin():
        await project(session, rerun)
    after = await states()
    assert after == [fold([*one_of(poisoned, i), changed, *one_of(rerun, i)]) for i in ids]
    assert {(state.status, state.verdict_run) for state in after} == {(LeadStatus.PENDING, 1)}


def one_of(batch: LeadsValidated, lead_id: uuid.UUID) -> list[LeadValidated]:
    return [verdict for verdict in batch.one_by_one() if verdict.lead_id == lead_id]


def stored(row: Any) -> LeadState:
    return LeadState(
        LeadStatus(row.status),
        row.status_at,
        row.manual_at,
        row.manual_id,
        None if row.base_status is None else LeadStatus(row.base_status),
        row.base_at,
        row.verdict_run,
        row.verdict_invalid_at,
    )
