"""Bulk actions over a campaign's leads (set a status, remove), run as jobs with progress.

A bulk action can name 100,000 leads, so it is never one blocking request: the request only records a
`jobs` row and answers 202, and a runner task in every gateway process works through running jobs in
steps of a few batches of `MAX_BATCH` leads. Each step is one transaction that applies the change to the
gateway's own read model (lead_view, the leads' timelines, live-update notifications), writes each
batch's event to the gateway's outbox for the other services, and moves the job's checkpoint (`done`, and
the last `seq` handled) forward, so a gateway that crashes mid-job resumes on start exactly where it
committed: no batch is applied or sent twice, none is skipped.

The selection is frozen when the request is made: the job remembers the highest `lead_view.seq` that
matched, and only leads at or below it are ever visited, in `seq` order (the list's own keyset). Leads
imported while the job runs are never swept in. The filter itself is evaluated again step by step, so a
lead that stopped matching meanwhile (a reply arrived, say) is left alone rather than overridden.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID
from weakref import WeakKeyDictionary

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
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
from contracts.text import MaybeText
from services.gateway.campaigns.queries import campaign_or_404
from services.gateway.deps import CurrentKey, Session, Workspace, service_of
from services.gateway.domain import JobState
from services.gateway.errors import API_RESPONSES, JSON_BODY, NO_SUCH_CAMPAIGN, problem
from services.gateway.leads.queries import lead_conditions
from services.gateway.leads.schemas import LeadFilter
from services.gateway.projection.consumer import PROJECTION_DURABLE
from services.gateway.projection.manual_changes import manual_change_values, status_change_details
from services.gateway.projection.notifications import notify_lead_changes
from services.gateway.projection.removals import removal_details
from services.gateway.search import search_words
from services.gateway.tables import jobs, lead_events, lead_view, outbox
from services.runtime.outbox import add_to_outbox
from services.runtime.service import Service

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)

# Ids sent in the body; a larger selection is a `filter` (a 4 MB JSON body of ids helps nobody).
MAX_IDS = 10_000
JOB_KIND = "bulk_leads"
# Batch event ids are uuid5(job, batch number): a batch sent again (an unknown commit outcome) is dropped
# by the outbox's unique event id and JetStream's duplicate window alike.
BATCH_EVENT_NAMESPACE = uuid.UUID("8a4f0c2e-5b1d-4e6a-9f3c-7d2b1e0a4c58")
# A step (one transaction) handles this many batches of up to MAX_BATCH leads, each sent as its own event:
# a round trip, a commit and a checkpoint per 5,000 leads rather than per 1,000 (the job's progress still
# moves every 5%, or more often, of a 100,000-lead job).
BATCHES_PER_STEP = 5
LEADS_PER_STEP = BATCHES_PER_STEP * MAX_BATCH
# A runner gives each running job this many steps before looking at the others, so a big job does not
# hold a small one back for its whole length.
STEPS_PER_TURN = 4
POLL_SECONDS = 1.0
# A job whose step keeps failing (not a blip of the database) is marked failed after this many tries.
MAX_ATTEMPTS = 5

BulkAction = Literal["set_status", "remove"]


# --- request and response --------------------------------------------------------------------------------


class BulkFilter(LeadFilter):
    """The list's filter; an unknown key is refused, as a typo must never widen a bulk action to every lead.

    So is a `q` with nothing to search for once folded (blank, or only accents and marks the search drops):
    the list shows every lead for it, which a bulk action must never do in its name."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("q")
    @classmethod
    def _q_searches_something(cls, value: str | None) -> str | None:
        if value is not None and not search_words(value):
            raise ValueError(
                "has nothing to search for (only spaces, accents or marks the search ignores); a bulk "
                "action would then apply to every lead. Leave `q` out to select without a text search."
            )
        return value


class _Selection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_IDS,
        description="These leads. Ids that are not leads of the campaign are ignored and reported in "
        "`ignored_ids`. Use `filter` for more than 10,000 leads.",
    )
    filter: BulkFilter | None = Field(
        default=None,
        description="Every lead the list shows with these query parameters (`{}`: the whole campaign), "
        "as of the request: leads added later are not included.",
    )

    @model_validator(mode="after")
    def _exactly_one_selection(self) -> Self:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("send exactly one of `ids` or `filter`")
        return self


class SetStatusAction(_Selection):
    action: Literal["set_status"]
    status: LeadStatus = Field(description="The status to set: a manual change, the latest one wins.")
    reason: MaybeText = Field(default=None, max_length=500, description="Shown in each lead's timeline.")


class RemoveAction(_Selection):
    action: Literal["remove"]


BulkActionIn = Annotated[SetStatusAction | RemoveAction, Field(discriminator="action")]


class JobOut(BaseModel):
    id: UUID
    state: JobState = Field(
        description="`running` until every batch is sent, then `completed` (or `failed`)."
    )
    percent: float = Field(
        description="done / total * 100, rounded down to one decimal; 100 for a job with nothing to do."
    )
    done: int = Field(description="Leads handled so far.")
    total: int = Field(description="Leads the selection matched when the job was created.")
    action: BulkAction
    error: str | None = Field(description="Why the job failed.")
    campaign_id: UUID | None
    ignored_ids: list[UUID] = Field(
        default_factory=list, description="Requested ids that are not leads of this campaign (left alone)."
    )


def _percent(done: int, total: int) -> float:
    return math.floor(done * 1000 / total) / 10 if total else 100.0


def _job_out(row: Any) -> JobOut:
    params: dict[str, Any] = row.params
    return JobOut(
        id=row.id,
        state=row.state,
        percent=_percent(row.done, row.total),
        done=row.done,
        total=row.total,
        action=params["action"],
        error=row.error,
        campaign_id=row.campaign_id,
        ignored_ids=params.get("ignored_ids", []),
    )


# --- routes ----------------------------------------------------------------------------------------------


async def caller_name(key: CurrentKey) -> str:
    """Who is making the change, as the lead's timeline shows it: the API key's name and prefix (the key
    a web session was opened with, for the web UI)."""
    return key.label


Caller = Annotated[str, Depends(caller_name)]


@router.post(
    "/campaigns/{campaign_id}/leads/bulk",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    tags=["leads"],
    responses={**NO_SUCH_CAMPAIGN, **JSON_BODY},
)
async def start_bulk_action(
    campaign_id: UUID,
    body: BulkActionIn,
    workspace_id: Workspace,
    changed_by: Caller,
    session: Session,
    request: Request,
) -> JobOut:
    """Set the status of, or remove, many leads at once: answers 202 with a job to poll at `/jobs/{id}`.

    The leads are chosen by `ids` or by `filter` (exactly one) when the request is made.
    """
    await campaign_or_404(session, workspace_id, campaign_id)
    conditions = lead_conditions(workspace_id, campaign_id, body.filter or LeadFilter())
    ignored: list[UUID] = []
    matched_ids: list[UUID] | None = None
    if body.ids is not None:
        requested = list(dict.fromkeys(body.ids))
        found = set(await session.scalars(select(lead_view.c.id).where(*conditions, _among(requested))))
        matched_ids = [lead_id for lead_id in requested if lead_id in found]
        ignored = [lead_id for lead_id in requested if lead_id not in found]
        conditions.append(_among(matched_ids))
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
    row = (
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
                created_by=changed_by,
                finished_at=func.now() if finished else None,
            )
            .returning(jobs)
        )
    ).one()
    await session.commit()
    if not finished and (runner := runner_of(service_of(request))) is not None:
        runner.wake()
    return _job_out(row)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    tags=["jobs"],
    responses={404: problem("No such job in this workspace.")},
)
async def get_job(job_id: UUID, workspace_id: Workspace, session: Session) -> JobOut:
    """A bulk action's progress: poll until `state` is no longer `running`."""
    row = (
        await session.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.workspace_id == workspace_id))
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such job.")
    return _job_out(row)


# --- the runner ------------------------------------------------------------------------------------------


def _among(lead_ids: list[UUID]) -> ColumnElement[bool]:
    """`id = ANY(array)`: one parameter for up to 10,000 ids (an IN list binds each one separately)."""
    return lead_view.c.id == any_(literal(lead_ids, ARRAY(Uuid)))


def batch_event_id(job_id: UUID, batch: int) -> UUID:
    return uuid.uuid5(BATCH_EVENT_NAMESPACE, f"{job_id}:{batch}")


def selection(job: Any) -> list[ColumnElement[bool]]:
    """The leads a job still has to visit: its frozen selection, past its checkpoint."""
    params: dict[str, Any] = job.params
    conditions = lead_conditions(
        job.workspace_id, job.campaign_id, LeadFilter.model_validate(params.get("filter") or {})
    )
    if params.get("ids") is not None:
        conditions.append(_among([UUID(i) for i in params["ids"]]))
    conditions += [lead_view.c.seq > params["cursor"], lead_view.c.seq <= params["max_seq"]]
    return conditions


async def apply_step(session: AsyncSession, job: Any) -> tuple[int, int, list[Event]]:
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
    return int(rows[0].matched), int(rows[0].last_seq), events


class JobRunner:
    """Works through the running jobs of every workspace, step by step; one per gateway process.

    Several gateways may run it at once: a step locks its job row (SKIP LOCKED), so each step is taken
    by exactly one of them and the checkpoint it commits is the next one's starting point.
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        self._wake = asyncio.Event()
        self._failures: dict[UUID, int] = {}

    async def start(self) -> None:
        # Jobs left running by a stopped or crashed gateway are picked up by the first pass.
        self.service.spawn(self._run_forever(), "gateway-job-runner")

    def wake(self) -> None:
        self._wake.set()

    async def _run_forever(self) -> None:
        while True:
            try:
                if await self.run_once():
                    continue
            except Exception as exc:
                log.warning("job pass failed; retrying", error=repr(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def run_once(self) -> bool:
        """One turn over every running job; True when some job has batches left."""
        async with self.service.sessions() as session:
            running = list(
                await session.scalars(
                    select(jobs.c.id).where(jobs.c.state == JobState.RUNNING).order_by(jobs.c.created_at)
                )
            )
        more = False
        for job_id in running:
            for _ in range(STEPS_PER_TURN):
                if not await self._attempt(job_id):
                    break
            else:
                more = True
        return more

    async def _attempt(self, job_id: UUID) -> bool:
        try:
            more = await self.step(job_id)
        except Exception as exc:
            failures = self._failures.get(job_id, 0) + 1
            self._failures[job_id] = failures
            log.warning("job step failed", job_id=str(job_id), attempt=failures, error=repr(exc))
            if failures >= MAX_ATTEMPTS:
                await self._fail(job_id, repr(exc))
            return False
        self._failures.pop(job_id, None)
        return more

    async def step(self, job_id: UUID) -> bool:
        """Apply and send the job's next step and move its checkpoint, in one transaction; True if more
        remain."""
        async with self.service.sessions() as session, session.begin():
            job = (
                await session.execute(
                    select(jobs)
                    .where(jobs.c.id == job_id, jobs.c.state == JobState.RUNNING)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if job is None:  # finished, or another gateway is on this very step
                return False
            return await self._send_step(session, job)

    async def _send_step(self, session: AsyncSession, job: Any) -> bool:
        params: dict[str, Any] = job.params
        matched, last_seq, events = await apply_step(session, job)
        if events:
            await add_to_outbox(session, outbox, events)
            # Already applied to lead_view above: the projection skips them when they come back from the bus.
            await session.execute(
                insert(self.service.processed_events).on_conflict_do_nothing(),
                [{"consumer": PROJECTION_DURABLE, "event_id": event.event_id} for event in events],
            )
            await notify_lead_changes(session, *events)
        sent = sum(len(e.lead_ids) for e in events if isinstance(e, LeadStatusChanged | LeadsRemoved))
        finished = matched < LEADS_PER_STEP or last_seq >= params["max_seq"]
        values: dict[str, Any] = {
            # Leads that left the filter meanwhile count as handled: at the end, done is the total.
            "done": job.total if finished else min(job.done + matched, job.total),
            "params": {
                **params,
                "cursor": last_seq if matched else params["cursor"],
                # The step's batch numbers are used up, sent or not: no event id is ever given out twice.
                "batches": int(params["batches"]) + math.ceil(matched / MAX_BATCH),
                "sent": int(params["sent"]) + sent,
            },
            "updated_at": func.now(),
        }
        if finished:
            values |= {"state": JobState.COMPLETED, "finished_at": func.now()}
        await session.execute(update(jobs).where(jobs.c.id == job.id).values(**values))
        if finished:
            log.info("job completed", job_id=str(job.id), sent=values["params"]["sent"], total=job.total)
        return not finished

    async def _fail(self, job_id: UUID, error: str) -> None:
        with contextlib.suppress(Exception):
            async with self.service.sessions() as session, session.begin():
                await session.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.state == JobState.RUNNING)
                    .values(
                        state=JobState.FAILED,
                        error=error[:2000],
                        updated_at=func.now(),
                        finished_at=func.now(),
                    )
                )
            self._failures.pop(job_id, None)


_RUNNERS: WeakKeyDictionary[Service, JobRunner] = WeakKeyDictionary()


def runner_of(service: Service) -> JobRunner | None:
    return _RUNNERS.get(service)


def register(service: Service) -> JobRunner:
    """Wire bulk jobs into the gateway: the events they publish, and the runner (started with the service)."""
    service.emits(LeadStatusChanged, LeadsRemoved)
    runner = JobRunner(service)
    _RUNNERS[service] = runner
    service.on_startup(runner.start)
    return runner
