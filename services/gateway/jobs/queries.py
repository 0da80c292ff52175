"""Every statement on `gateway.jobs` and the one a job's step runs over lead_view and the timelines."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Delete,
    Integer,
    Update,
    Uuid,
    and_,
    any_,
    cast,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by, array, insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import MAX_BATCH, Event, LeadStatus, LeadStatusChanged
from contracts.events import EVENT_SOURCES, LeadsRemoved
from services.gateway.domain import JobState
from services.gateway.jobs.schemas import BulkActionIn, SetStatusAction
from services.gateway.leads.queries import lead_conditions
from services.gateway.leads.schemas import LeadFilter
from services.gateway.projection.manual_changes import manual_change_values, status_change_details
from services.gateway.projection.removals import removal_details
from services.gateway.tables import jobs, lead_events, lead_view

JOB_KIND = "bulk_leads"
# Batch event ids are uuid5(job, batch number): a batch sent again (an unknown commit outcome) is dropped
# by the outbox's unique event id and JetStream's duplicate window alike.
BATCH_EVENT_NAMESPACE = uuid.UUID("8a4f0c2e-5b1d-4e6a-9f3c-7d2b1e0a4c58")
# A step (one transaction) handles this many batches of up to MAX_BATCH leads, each sent as its own event:
# a round trip, a commit and a checkpoint per 5,000 leads rather than per 1,000 (the job's progress still
# moves every 5%, or more often, of a 100,000-lead job).
BATCHES_PER_STEP = 5
LEADS_PER_STEP = BATCHES_PER_STEP * MAX_BATCH


def among(lead_ids: list[UUID]) -> ColumnElement[bool]:
    """`id = ANY(array)`: one parameter for up to 10,000 ids (an IN list binds each one separately)."""
    return lead_view.c.id == any_(literal(lead_ids, ARRAY(Uuid)))


def batch_event_id(job_id: UUID, batch: int) -> UUID:
    return uuid.uuid5(BATCH_EVENT_NAMESPACE, f"{job_id}:{batch}")


async def create_job(
    session: AsyncSession,
    workspace_id: UUID,
    campaign_id: UUID,
    body: BulkActionIn,
    created_by: str,
) -> Any:
    """Record a job for the action, its selection frozen now; a job that matched nothing is completed."""
    conditions = lead_conditions(workspace_id, campaign_id, body.filter or LeadFilter())
    ignored: list[UUID] = []
    matched_ids: list[UUID] | None = None
    if body.ids is not None:
        requested = list(dict.fromkeys(body.ids))
        found = set(await session.scalars(select(lead_view.c.id).where(*conditions, among(requested))))
        matched_ids = [lead_id for lead_id in requested if lead_id in found]
        ignored = [lead_id for lead_id in requested if lead_id not in found]
        conditions.append(among(matched_ids))
    # Count and upper bound in one statement: one snapshot, so `total` is exactly what the job will visit.
    snapshot = (
        await session.execute(
            select(func.count(), func.coalesce(func.max(lead_view.c.seq), 0)).where(*conditions)
        )
    ).one()
    total, max_seq = int(snapshot[0]), int(snapshot[1])
    params: dict[str, Any] = {
        "action": body.action,
        "status": body.status.value if isinstance(body, SetStatusAction) else None,
        "reason": body.reason if isinstance(body, SetStatusAction) else None,
        "ids": [str(lead_id) for lead_id in matched_ids] if matched_ids is not None else None,
        "filter": body.filter.model_dump(mode="json", exclude_none=True) if body.filter else None,
        "ignored_ids": [str(lead_id) for lead_id in ignored],
        "max_seq": max_seq,
        "cursor": 0,
        "batches": 0,
        "sent": 0,
    }
    finished = total == 0
    return (
        await session.execute(
            jobs.insert()
            .values(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                campaign_id=campaign_id,
                kind=JOB_KIND,
                state=JobState.COMPLETED if finished else JobState.RUNNING,
                total=total,
                done=0,
                params=params,
                created_by=created_by,
                finished_at=func.now() if finished else None,
            )
            .returning(jobs)
        )
    ).one()


async def job_of(session: AsyncSession, workspace_id: UUID, job_id: UUID) -> Any | None:
    return (
        await session.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.workspace_id == workspace_id))
    ).first()


async def running_jobs(session: AsyncSession) -> list[UUID]:
    """Every running job, the oldest first."""
    return list(
        await session.scalars(
            select(jobs.c.id).where(jobs.c.state == JobState.RUNNING).order_by(jobs.c.created_at)
        )
    )


async def lock_running(session: AsyncSession, job_id: UUID) -> Any | None:
    """The job, locked for this transaction's step; None when it finished or another gateway is on it."""
    return (
        await session.execute(
            select(jobs)
            .where(jobs.c.id == job_id, jobs.c.state == JobState.RUNNING)
            .with_for_update(skip_locked=True)
        )
    ).first()


class Step(NamedTuple):
    """What one step did: the leads of the selection it matched, the last one's seq, its events."""

    matched: int
    last_seq: int
    events: list[Event]

    @property
    def sent(self) -> int:
        return sum(len(e.lead_ids) for e in self.events if isinstance(e, LeadStatusChanged | LeadsRemoved))


def selection(job: Any) -> list[ColumnElement[bool]]:
    """The leads a job still has to visit: its frozen selection, past its checkpoint."""
    params: dict[str, Any] = job.params
    conditions = lead_conditions(
        job.workspace_id, job.campaign_id, LeadFilter.model_validate(params.get("filter") or {})
    )
    if params.get("ids") is not None:
        conditions.append(among([UUID(i) for i in params["ids"]]))
    conditions += [lead_view.c.seq > params["cursor"], lead_view.c.seq <= params["max_seq"]]
    return conditions


async def apply_step(session: AsyncSession, job: Any) -> Step:
    """Apply the job's next step (up to `LEADS_PER_STEP` leads) to lead_view and the leads' timelines, in
    ONE statement.

    Returns how many leads of the selection the step matched, the last one's seq (the next checkpoint) and
    the step's events: one per batch of `MAX_BATCH` leads in seq order, naming the leads it changed (none
    for a batch whose leads were all removed meanwhile). Event `n` of the job has the id `batch_event_id(job, n)`.

    The gateway owns manual changes, so it applies them to its own read model here, in the transaction that
    puts the events in the outbox, rather than waiting for them to come back from the bus to its
    projection: a 100,000-lead change is listed as soon as the job completes, and the work is done once.
    The UPDATE (or DELETE), its RETURNING and the timeline INSERT are data-modifying CTEs over the step's
    keyset range, each row carrying its batch's event id, so five thousand leads cost one round trip and
    no per-lead work in Python.
    """
    params: dict[str, Any] = job.params
    first_batch = int(params["batches"])
    event_ids = [batch_event_id(job.id, first_batch + n) for n in range(BATCHES_PER_STEP)]
    occurred_at = datetime.now(UTC)
    batch = cast((func.row_number().over(order_by=lead_view.c.seq) - 1) // MAX_BATCH, Integer)
    matching = (
        select(lead_view.c.id, lead_view.c.seq, batch.label("batch"))
        .where(and_(*selection(job)))
        .order_by(lead_view.c.seq)
        .limit(LEADS_PER_STEP)
        .subquery("matching")
    )
    # Each row's event id: its batch's (the array is 1-based in SQL).
    event_id = array([literal(i, Uuid) for i in event_ids])[matching.c.batch + 1]
    pending = select(matching.c.id, matching.c.seq, matching.c.batch, event_id.label("event_id")).cte(
        "pending"
    )
    in_step = lead_view.c.id == pending.c.id
    changed_rows: Update | Delete
    if params["action"] == "remove":
        event_type, details = "leads_removed", removal_details(job.created_by, job.id)
        changed_rows = lead_view.delete().where(in_step)
    else:
        status = LeadStatus(params["status"])
        event_type = "lead_status_changed"
        details = status_change_details(status, job.created_by, params["reason"], job.id)
        changed_rows = (
            update(lead_view)
            .where(in_step)
            .values(manual_change_values(pending.c.event_id, occurred_at, status))
        )
    changed = changed_rows.returning(
        lead_view.c.id, lead_view.c.seq, pending.c.batch, pending.c.event_id
    ).cte("changed")
    timeline = (
        insert(lead_events)
        .from_select(
            ["lead_id", "workspace_id", "event_id", "event_type", "source", "occurred_at", "data"],
            select(
                changed.c.id,
                literal(job.workspace_id, Uuid),
                changed.c.event_id,
                literal(event_type),
                literal(EVENT_SOURCES[event_type]),
                literal(occurred_at, DateTime(timezone=True)),
                literal(details, JSONB),
            ),
        )
        .on_conflict_do_nothing(constraint="lead_events_lead_time_event")
        .returning(lead_events.c.id)
        .cte("timeline")
    )
    summary = select(
        func.count().label("matched"), func.coalesce(func.max(pending.c.seq), 0).label("last_seq")
    ).subquery("summary")
    batches = (
        select(changed.c.batch, func.array_agg(aggregate_order_by(changed.c.id, changed.c.seq)).label("ids"))
        .group_by(changed.c.batch)
        .subquery("batches")
    )
    rows = (
        await session.execute(
            select(summary.c.matched, summary.c.last_seq, batches.c.batch, batches.c.ids)
            .select_from(summary.outerjoin(batches, true()))
            .order_by(batches.c.batch)
            .add_cte(timeline)
        )
    ).all()
    common: dict[str, Any] = {
        "occurred_at": occurred_at,
        "workspace_id": job.workspace_id,
        "campaign_id": job.campaign_id,
        "job_id": job.id,
    }
    events: list[Event] = []
    for row in rows:
        if row.ids is None:  # the step changed nothing
            continue
        ids = {"event_id": event_ids[row.batch], "lead_ids": row.ids}
        if params["action"] == "remove":
            events.append(LeadsRemoved(removed_by=job.created_by, **ids, **common))
        else:
            events.append(
                LeadStatusChanged(
                    status=LeadStatus(params["status"]),
                    changed_by=job.created_by,
                    reason=params["reason"],
                    **ids,
                    **common,
                )
            )
    return Step(int(rows[0].matched), int(rows[0].last_seq), events)


async def advance(session: AsyncSession, job: Any, step: Step) -> bool:
    """Move the job's checkpoint past the step (completing it when nothing is left); True if it finished."""
    params: dict[str, Any] = job.params
    finished = step.matched < LEADS_PER_STEP or step.last_seq >= params["max_seq"]
    values: dict[str, Any] = {
        # Leads that left the filter meanwhile count as handled: at the end, done is the total.
        "done": job.total if finished else min(job.done + step.matched, job.total),
        "params": {
            **params,
            "cursor": step.last_seq if step.matched else params["cursor"],
            # The step's batch numbers are used up, sent or not: no event id is ever given out twice.
            "batches": int(params["batches"]) + math.ceil(step.matched / MAX_BATCH),
            "sent": int(params["sent"]) + step.sent,
        },
        "updated_at": func.now(),
    }
    if finished:
        values |= {"state": JobState.COMPLETED, "finished_at": func.now()}
    await session.execute(update(jobs).where(jobs.c.id == job.id).values(**values))
    return finished


async def fail(session: AsyncSession, job_id: UUID, error: str) -> None:
    await session.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state == JobState.RUNNING)
        .values(state=JobState.FAILED, error=error[:2000], updated_at=func.now(), finished_at=func.now())
    )
