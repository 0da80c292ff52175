"""The validator's worker loops: claim due leads fairly, verify them, record the results.

Worker loops claim a batch of due leads (shared round-robin over workspaces, then campaigns: a small
campaign is never stuck behind a big one), verify them outside any transaction (DNS and SMTP take
seconds), and record the batch in one transaction with one `LeadsValidated` per campaign. A lead whose
answer is not final yet — greylisted, its MX or DNS unreachable — is queued again on the retry schedule;
while the validator itself looks at fault (the SMTP prober blocked, or its DNS resolver broken), the
affected leads are held and retried later rather than given a verdict for our own fault. When DNS works
again, the leads it held are due at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta

import structlog

from services.runtime.db import retry_while_unreachable
from services.runtime.outbox import add_to_outbox
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.validator.domain import (
    Claimed,
    DnsFault,
    FairClaim,
    HoldCause,
    Queue,
    Requeue,
    Result,
    next_step,
    parse_retry_schedule,
    verdict_events,
)
from services.validator.repository import Again, Done, ValidationRepository
from services.validator.tables import outbox
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


class ValidationRunner:
    def __init__(self, service: Service, verifier: Verifier, settings: Settings) -> None:
        self.service = service
        self.verifier = verifier
        self.retry_schedule = parse_retry_schedule(settings.validator_greylist_retry_seconds)
        self.held_retry = settings.validator_held_retry_seconds
        self._wake = asyncio.Event()
        self._rotation = 0
        self._dns_recovered = asyncio.Event()
        if verifier.dns_guard is not None:
            verifier.dns_guard.on_change(self._dns_changed)

    async def start(self) -> None:
        for n in range(WORKERS):
            self.service.spawn(self._work_forever(), f"validator-worker-{n}")
        if self.verifier.dns_guard is not None:
            self.service.spawn(self._watch_dns(), "validator-dns-watch")

    def wake(self) -> None:
        self._wake.set()

    def problems(self) -> list[str]:
        """Why the validator cannot trust its own checks right now, in words; empty when it can."""
        found: list[str] = []
        fault = self.verifier.dns_fault
        if fault is not None:
            found.append(fault.message)
        if self.verifier.degraded:
            found.append(PROBER_MESSAGE)
        return found

    async def _work_forever(self) -> None:
        while True:
            try:
                if await self.run_once():
                    continue
            except Exception as exc:
                log.warning("validation pass failed; retrying", error=repr(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def run_once(self) -> int:
        """Claim, verify and record one batch of due leads; returns how many were claimed."""
        claimed = await self.claim()
        if not claimed:
            return 0
        try:
            # A re-run asks the DNS again: the answer cached for the first run may be what it corrects.
            fresh = [i for i, lead in enumerate(claimed) if lead.run > 0 and lead.attempts == 0]
            results = await self.verifier.verify_many([c.email for c in claimed], fresh=fresh)
            # The answers are in hand: a database restarting meanwhile delays recording them, no more.
            await retry_while_unreachable(
                lambda: self.record(claimed, results), what="recording verdicts", within=RECORD_WITHIN
            )
        except BaseException:
            # Hand the batch back at once rather than when its lease runs out (also once the database is
            # back, when it was unreachable: otherwise these leads would wait out the whole lease).
            with contextlib.suppress(Exception):
                await retry_while_unreachable(
                    lambda: self._release(claimed), what="releasing a claim", within=RECORD_WITHIN
                )
            raise
        return len(claimed)

    async def _release(self, claimed: list[Claimed]) -> None:
        async with self.service.sessions() as session, session.begin():
            await ValidationRepository.from_session(session).release(claimed)

    async def claim(self) -> list[Claimed]:
        """Up to BATCH due leads, shared fairly over the workspaces and campaigns that have some."""
        async with self.service.sessions() as session, session.begin():
            repo = ValidationRepository.from_session(session)
            await repo.requeue_lapsed()
            plan = FairClaim(await repo.queues(), BATCH, rotation=self._rotation)
            self._rotation += 1
            claimed: list[Claimed] = []
            while shares := plan.next_shares():
                got = await repo.claim(shares, LEASE)
                plan.record(Counter(Queue(c.workspace_id, c.campaign_id) for c in got))
                claimed.extend(got)
            return claimed

    async def record(self, claimed: list[Claimed], results: list[Result]) -> None:
        """One transaction: the verdicts with their events, and the leads queued for another pass."""
        held_waits: Mapping[HoldCause, float] = {
            HoldCause.PROBER: self.held_retry,
            # Held just as DNS came back (the release already ran): due again at once.
            HoldCause.DNS: self.held_retry if self.verifier.dns_fault is not None else 0.0,
        }
        async with self.service.sessions() as session, session.begin():
            repo = ValidationRepository.from_session(session)
            owned = await repo.owned(claimed)
            done: list[Done] = []
            again: list[Again] = []
            for lead, result in zip(claimed, results, strict=True):
                if lead.lead_id not in owned:
                    continue
                step = next_step(result, lead.attempts, self.retry_schedule, held_waits)
                if isinstance(step, Requeue):
                    again.append(Again(lead, step))
                else:
                    done.append(Done(lead, step))
            await repo.record_done(done)
            await add_to_outbox(session, outbox, verdict_events([(d.lead, d.result) for d in done]))
            await repo.record_again(again)
        if again:
            log.info(
                "leads queued for a later pass",
                count=len(again),
                held=sum(1 for a in again if a.requeue.held_for is not None),
            )

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

    async def _watch_dns(self) -> None:
        """Checks the canaries when due, and makes the leads held for DNS due once it works again."""
        guard = self.verifier.dns_guard
        assert guard is not None
        while True:
            try:
                if guard.due():
                    await guard.check()
                if self._dns_recovered.is_set():
                    self._dns_recovered.clear()
                    try:
                        async with self.service.sessions() as session, session.begin():
                            released = await ValidationRepository.from_session(session).release_held(
                                HoldCause.DNS
                            )
                    except BaseException:
                        self._dns_recovered.set()
                        raise
                    log.info("leads held while DNS was broken are due again", count=released)
                    self.wake()
            except Exception as exc:
                log.warning("DNS health check failed; retrying", error=repr(exc))
            await asyncio.sleep(DNS_WATCH_SECONDS)
