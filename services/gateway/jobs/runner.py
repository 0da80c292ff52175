"""The runner of bulk jobs: every running job, step by step, on the runtime's `WorkLoop`.

Several gateways may run one each: a step locks its job row (SKIP LOCKED) for its one transaction, so
each step is taken by exactly one of them and the checkpoint it commits is the next one's starting point.
The row lock is the step's whole lease: the work is done inside the transaction that records it.
"""

from __future__ import annotations

from uuid import UUID

import structlog

from contracts import LeadStatusChanged
from contracts.events import LeadsRemoved
from services.gateway.jobs import queries
from services.gateway.projection.consumer import PROJECTION_DURABLE
from services.gateway.projection.notifications import notify_lead_changes
from services.runtime.leased_work import WorkLoop
from services.runtime.service import Service

log = structlog.get_logger(__name__)

# A runner gives each running job this many steps before looking at the others, so a big job does not
# hold a small one back for its whole length.
STEPS_PER_TURN = 4
POLL_SECONDS = 1.0
# A job whose step keeps failing (not a blip of the database) is marked failed after this many tries.
MAX_ATTEMPTS = 5


class JobRunner:
    """Works through the running jobs of every workspace, step by step; one per gateway process."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.loop = WorkLoop(self.run_once, name="gateway-jobs", every=POLL_SECONDS)
        self._failures: dict[UUID, int] = {}

    @classmethod
    def wired(cls, service: Service) -> JobRunner:
        """A runner for the gateway `service`: the events jobs publish, and the runner started with it
        (jobs left running by a stopped or crashed gateway are picked up by its first pass)."""
        service.emits(LeadStatusChanged, LeadsRemoved)
        runner = cls(service)
        service.on_startup(runner.start)
        return runner

    async def start(self) -> None:
        self.service.spawn(self.loop.run(), "gateway-job-runner")

    def wake(self) -> None:
        self.loop.wake()

    async def run_once(self) -> int:
        """One turn over every running job; 1 when some job has batches left (another turn at once)."""
        async with self.service.sessions() as session:
            running = await queries.running_jobs(session)
        more = False
        for job_id in running:
            for _ in range(STEPS_PER_TURN):
                if not await self._attempt(job_id):
                    break
            else:
                more = True
        return int(more)

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
        """Apply and send the job's next step and move its checkpoint, in one unit of work; True if more
        remain."""
        async with self.service.unit_of_work() as uow:
            job = await queries.lock_running(uow.session, job_id)
            if job is None:  # finished, or another gateway is on this very step
                return False
            step = await queries.apply_step(uow.session, job)
            if step.events:
                uow.emit_all(step.events)
                # Already applied to lead_view: the projection skips them when they come back from the bus.
                uow.handled_here(PROJECTION_DURABLE, (event.event_id for event in step.events))
                await notify_lead_changes(uow.session, *step.events)
            finished = await queries.advance(uow.session, job, step)
        if finished:
            log.info(
                "job completed", job_id=str(job_id), sent=int(job.params["sent"]) + step.sent, total=job.total
            )
        return not finished

    async def _fail(self, job_id: UUID, error: str) -> None:
        try:
            async with self.service.sessions() as session, session.begin():
                await queries.fail(session, job_id, error)
        except Exception as exc:
            log.warning(
                "marking a job failed failed; its next turn tries again", job_id=str(job_id), error=repr(exc)
            )
            return
        self._failures.pop(job_id, None)
