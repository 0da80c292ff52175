"""The validator's worker loops: claim due leads fairly, verify them, record the results.

The loops are the runtime's `LeasedWorker` (leased_work.py) over `Validations`, this service's part:
worker loops claim a batch of due leads (shared round-robin over workspaces, then campaigns: a small
campaign is never stuck behind a big one), verify them outside any transaction (DNS and SMTP take
seconds), and record the batch in one transaction with one `LeadsValidated` per campaign. A lead whose
answer is not final yet — greylisted, its MX or DNS unreachable — is queued again on the retry schedule;
while the validator itself looks at fault (the SMTP prober blocked, or its DNS resolver broken), the
affected leads are held and retried later rather than given a verdict for our own fault. When DNS works
again, the leads it held are due at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.leased_work import LeasedWorker, WorkLoop
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork
from services.validator.domain import Claimed, HoldCause, decide, parse_retry_schedule
from services.validator.fair_claim import FairClaim, Queue
from services.validator.health import DnsFault
from services.validator.repository import LEASES, ValidationRepository
from services.validator.verdicts import Result
from services.validator.verifier import Verifier

log = structlog.get_logger(__name__)

# Leads one worker loop claims and verifies together (grouped by domain: one SMTP session per domain).
BATCH = 500
WORKERS = 4
# A claimed batch not recorded within this long (a crashed worker) is claimed again.
LEASE = timedelta(minutes=15)
POLL_SECONDS = 1.0
# How long a verified batch waits for an unreachable database (a restart) before it is given up on.
RECORD_WITHIN = 120.0
# How often the DNS watcher looks whether a canary check is due (the interval itself is a setting).
DNS_WATCH_SECONDS = 0.25

PROBER_MESSAGE = "SMTP probes fail across many unrelated domains (port 25 blocked or the prober listed?)"


class Validations:
    """The validator's leased work: which leads a claim takes, verifying them, what a result means."""

    def __init__(self, verifier: Verifier, settings: Settings) -> None:
        self.verifier = verifier
        self.retry_schedule = parse_retry_schedule(settings.validator_greylist_retry_seconds)
        self.held_retry = settings.validator_held_retry_seconds
        self._rotation = 0

    async def claim(self, session: AsyncSession, lease: timedelta) -> list[Claimed]:
        """Up to BATCH due leads, shared fairly over the workspaces and campaigns that have some."""
        repo = ValidationRepository.from_session(session)
        await repo.requeue_lapsed()
        plan = FairClaim(await repo.queues(), BATCH, rotation=self._rotation)
        self._rotation += 1
        claimed: list[Claimed] = []
        while shares := plan.next_shares():
            got = await repo.claim(shares, lease)
            plan.record(Counter(Queue(c.workspace_id, c.campaign_id) for c in got))
            claimed.extend(got)
        return claimed

    async def perform(self, claimed: Sequence[Claimed]) -> list[Result]:
        # A re-run asks the DNS again: the answer cached for the first run may be what it corrects.
        fresh = [i for i, lead in enumerate(claimed) if lead.run > 0 and lead.attempts == 0]
        return await self.verifier.verify_many([c.email for c in claimed], fresh=fresh)

    async def record(self, uow: UnitOfWork, results: Sequence[tuple[Claimed, Result]]) -> None:
        """The verdicts with their events, and the leads queued for another pass."""
        held_waits: Mapping[HoldCause, float] = {
            HoldCause.PROBER: self.held_retry,
            # Held just as DNS came back (the release already ran): due again at once.
            HoldCause.DNS: self.held_retry if self.verifier.dns_fault is not None else 0.0,
        }
        decision = decide(results, self.retry_schedule, held_waits)
        repo = ValidationRepository.from_session(uow.session)
        await repo.record_done(decision.done)
        uow.emit_all(decision.events)
        await repo.record_again(decision.again)
        if decision.again:
            log.info("leads queued for a later pass", count=len(decision.again), held=decision.held)


class ValidationRunner:
    """The validator's workers (the runtime's `LeasedWorker` over `Validations`), its DNS watch, and the
    commands that look at or refill its queue."""

    def __init__(self, service: Service, verifier: Verifier, settings: Settings) -> None:
        self.service = service
        self.verifier = verifier
        self.work = Validations(verifier, settings)
        self.worker = LeasedWorker(
            self.work,
            LEASES,
            name="validator",
            sessions=service.sessions,
            units=service.unit_of_work,
            lease=LEASE,
            every=POLL_SECONDS,
            workers=WORKERS,
            record_within=RECORD_WITHIN,
        )
        self._dns_recovered = asyncio.Event()
        # Not work of its own: a look every DNS_WATCH_SECONDS, on the same loop (its failures backed off).
        self.dns_watch = WorkLoop(self._check_dns, name="validator-dns-watch", every=DNS_WATCH_SECONDS)
        if verifier.dns_guard is not None:
            verifier.dns_guard.on_change(self._dns_changed)

    async def start(self) -> None:
        self.service.spawn(self.worker.run(), "validator-workers")
        if self.verifier.dns_guard is not None:
            self.service.spawn(self.dns_watch.run(), "validator-dns-watch")

    def wake(self) -> None:
        self.worker.wake()

    def problems(self) -> list[str]:
        """Why the validator cannot trust its own checks right now, in words; empty when it can."""
        found: list[str] = []
        fault = self.verifier.dns_fault
        if fault is not None:
            found.append(fault.message)
        if self.verifier.degraded:
            found.append(PROBER_MESSAGE)
        return found

    async def run_once(self) -> int:
        """Claim, verify and record one batch of due leads; returns how many were claimed."""
        return await self.worker.run_once()

    async def claim(self) -> list[Claimed]:
        return await self.worker.claim()

    async def record(self, claimed: Sequence[Claimed], results: Sequence[Result]) -> int:
        """One transaction: the results of the leads the claim still holds; how many."""
        return await self.worker.record(claimed, results)

    async def rerun(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, reasons: list[str]) -> int:
        async with self.service.sessions() as session, session.begin():
            queued = await ValidationRepository.from_session(session).rerun(
                workspace_id, campaign_id, reasons
            )
        if queued:
            log.info("leads queued for a re-run", campaign_id=str(campaign_id), count=queued, reasons=reasons)
            self.wake()
        return queued

    async def status(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> tuple[int, int]:
        async with self.service.sessions() as session:
            return await ValidationRepository.from_session(session).status(workspace_id, campaign_id)

    async def _dns_changed(self, fault: DnsFault | None) -> None:
        if fault is None:
            self._dns_recovered.set()

    async def _check_dns(self) -> int:
        """Checks the canaries when due, and makes the leads held for DNS due once it works again."""
        guard = self.verifier.dns_guard
        assert guard is not None
        if guard.due():
            await guard.check()
        if self._dns_recovered.is_set():
            self._dns_recovered.clear()
            try:
                async with self.service.sessions() as session, session.begin():
                    released = await ValidationRepository.from_session(session).release_held(HoldCause.DNS)
            except BaseException:
                self._dns_recovered.set()
                raise
            log.info("leads held while DNS was broken are due again", count=released)
            self.wake()
        return 0
