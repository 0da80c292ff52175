"""The DNS health guard at work: runs the canary checks the pure `DnsHealth` asks for, and tells the
verifier whether a lead's DNS failure may become its verdict.

One canary check at a time: every lead waiting for a check that started after its lookup shares it.
Listeners hear of every change of fault (broken → fixed, fixed → broken), so the runner can release the
leads it held and the resolver can forget what it cached while broken.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog

from services.validator.health import DnsFault, DnsHealth, LookupOutcome, Trust

log = structlog.get_logger(__name__)

CanaryCheck = Callable[[Sequence[str]], Awaitable[Mapping[str, LookupOutcome]]]
FaultListener = Callable[[DnsFault | None], Awaitable[None]]


class DnsGuard:
    def __init__(
        self, health: DnsHealth, check: CanaryCheck, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.health = health
        self._check = check
        self._clock = clock
        self._inflight: asyncio.Task[None] | None = None
        self._inflight_started = 0.0
        self._listeners: list[FaultListener] = []
        self.last_outcomes: Mapping[str, LookupOutcome] = {}

    def now(self) -> float:
        return self._clock()

    @property
    def fault(self) -> DnsFault | None:
        return self.health.fault(self._clock())

    def on_change(self, listener: FaultListener) -> None:
        """`listener(fault)` after every check or lookup that changed the fault (None: DNS is fine)."""
        self._listeners.append(listener)

    def skip_lookups(self) -> bool:
        return self.health.skip_lookups(self._clock())

    def due(self) -> bool:
        return self.health.canaries_due(self._clock())

    async def record_lookup(self, domain: str, outcome: LookupOutcome) -> None:
        before = self.fault
        self.health.record_lookup(domain, outcome, now=self._clock())
        await self._announce(before)

    async def believe(self, looked_up_at: float) -> bool:
        """Whether a DNS failure from a lookup that started at `looked_up_at` may be the lead's verdict;
        checks the canaries first when no check has started since the lookup."""
        while True:
            match self.health.trust(looked_up_at, self._clock()):
                case Trust.BELIEVE:
                    return True
                case Trust.HOLD:
                    return False
                case Trust.CHECK:
                    await self.check(started_after=looked_up_at)

    async def check(self, *, started_after: float | None = None) -> DnsFault | None:
        """Check the canaries (or wait for the check in flight, if it started after `started_after`)."""
        while True:
            task = self._inflight
            if task is None:
                self._inflight_started = self._clock()
                task = self._inflight = asyncio.ensure_future(self._run_check(self._inflight_started))
                task.add_done_callback(self._done)
                await asyncio.shield(task)
                return self.fault
            started = self._inflight_started
            await asyncio.shield(task)
            if started_after is None or started >= started_after:
                return self.fault

    def _done(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _run_check(self, started_at: float) -> None:
        before = self.fault
        outcomes = await self._check(self.health.canaries)
        self.last_outcomes = outcomes
        self.health.record_canaries(outcomes, started_at=started_at, now=self._clock())
        await self._announce(before)

    async def _announce(self, before: DnsFault | None) -> None:
        after = self.fault
        if after == before:
            return
        if after is None:
            log.info("DNS is healthy again", was=before.message if before else None)
        else:
            log.warning(
                "DNS looks broken: leads that depend on it are held",
                reason=after.message,
                canaries={domain: outcome.value for domain, outcome in self.last_outcomes.items()},
            )
        for listener in self._listeners:
            await listener(after)
