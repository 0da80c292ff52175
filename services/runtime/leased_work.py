"""The one loop that works through leased rows: claim, work outside any transaction, record, wait.

A service says what its work is (`LeasedWork`): which due rows a claim takes (its own order, fair shares
or `LeasedRows.claim` as it is), what working on them means (a network round trip: never inside a
transaction), and what a result becomes (state and events, recorded in a unit of work). `LeasedWorker`
does the rest, the same way for every service:

- it claims only while the service's `healthy()` says so: while it says no, rows wait unclaimed rather
  than get an answer the service itself would be at fault for;
- it records only the rows its claim still holds (`LeasedRows.owned`, in the recording transaction), and
  ends their leases there; a worker whose lease ran out records nothing;
- a batch that fails is handed back at once, due again, rather than left to wait out its lease; a
  database that is restarting delays recording a finished batch (`retry_while_unreachable`), no more;
- it waits for work on a `wake()` (the service enqueued something), on a NOTIFY on `channels` (another
  process did), or `every` seconds, whichever comes first; a pass that failed is tried again after the
  runtime's backoff (`run_forever`), not in a loop of its own.

The waiting, holding and retrying is `WorkLoop`, which also runs work that needs no lease: a step done
inside one transaction holds its row locked for as long as it works on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Generic, NoReturn, Protocol, TypeVar

import structlog
from psycopg import Notify
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .backoff import Backoff, run_forever
from .db import retry_while_unreachable
from .leases import Leased, LeasedRows
from .listen import Listener
from .unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

C = TypeVar("C", bound=Leased)
R = TypeVar("R")

# A worker's pass that failed: tried again soon, then less often, at least every 10 s.
PASS_BACKOFF = Backoff(first=0.5, most=10.0)


class LeasedWork(Protocol[C, R]):
    """A service's side of the loop."""

    async def claim(self, session: AsyncSession, lease: timedelta) -> Sequence[C]:
        """Lease the next due rows: `LeasedRows.claim`, or a statement of the service's own that sets
        the same columns (`LeasedRows.lease_values`, or their equivalent in its SQL)."""
        ...

    async def perform(self, claimed: Sequence[C]) -> Sequence[R]:
        """Work on the claimed rows, outside any transaction: one result per row, in their order."""
        ...

    async def record(self, uow: UnitOfWork, results: Sequence[tuple[C, R]]) -> None:
        """Store what the results mean, and emit their events, for the rows the claim still holds (their
        leases end when the unit of work commits)."""
        ...


class WorkLoop:
    """`workers` loops that each run `work()` again at once while it did something (it returns how many
    things), and otherwise wait for `wake()`, a NOTIFY on `channels` or `every` seconds; no pass starts
    while `healthy()` says no. A pass that raises is tried again on `backoff`. `run()` until cancelled.

    Work whose every step is one transaction (a bulk job's step: its row lock is all the lease it needs)
    runs on this loop directly; work done outside a transaction runs on `LeasedWorker`, which adds leases.
    """

    def __init__(
        self,
        work: Callable[[], Awaitable[int]],
        *,
        name: str,
        every: float,
        workers: int = 1,
        healthy: Callable[[], bool] = lambda: True,
        conninfo: str | None = None,
        channels: Sequence[str] = (),
        backoff: Backoff = PASS_BACKOFF,
    ) -> None:
        assert not channels or conninfo is not None, "listening needs a connection string"
        self._work = work
        self.name = name
        self._every = every
        self._workers = workers
        self._healthy = healthy
        self._conninfo = conninfo
        self._channels = tuple(channels)
        self._backoff = backoff
        self._wake = asyncio.Event()
        self._holding = False

    def wake(self) -> None:
        """Look for work now (something was enqueued); harmless when there is none."""
        self._wake.set()

    async def run(self) -> NoReturn:
        """The worker loops and, with `channels`, the LISTEN connection that wakes them; cancel to stop."""
        async with asyncio.TaskGroup() as group:
            for n in range(self._workers):
                group.create_task(self._work_forever(n), name=f"{self.name}-worker-{n}")
            if self._channels:
                assert self._conninfo is not None
                listener = Listener(
                    self._conninfo,
                    self._channels,
                    every=max(self._every, 5.0),
                    what=f"{self.name} listener",
                    on_notify=self._heard,
                    # Notifications sent while the connection was down are gone: look anyway.
                    on_connect=lambda _again: self.wake(),
                )
                group.create_task(listener.run(), name=f"{self.name}-listener")
        raise AssertionError("the worker loops run until cancelled")  # pragma: no cover

    def _heard(self, _: Notify) -> None:
        self.wake()

    async def _work_forever(self, n: int) -> NoReturn:
        async def passes(established: Callable[[], None]) -> NoReturn:
            while True:
                # Cleared before the pass: a wake during it makes the next wait return at once.
                self._wake.clear()
                did = await self.run_once()
                established()
                if did:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._every)

        await run_forever(passes, what=f"{self.name} worker {n}", backoff=self._backoff)

    def _may_work(self) -> bool:
        healthy = self._healthy()
        if healthy == self._holding:
            self._holding = not healthy
            if self._holding:
                log.warning("holding: no new work while unhealthy", work=self.name)
            else:
                log.info("working again: healthy", work=self.name)
        return healthy

    async def run_once(self) -> int:
        """One pass of the work; 0 without one while holding."""
        if not self._may_work():
            return 0
        return await self._work()


class LeasedWorker(Generic[C, R]):
    """Runs `workers` loops over `work`'s rows; `run()` until cancelled (see the module)."""

    def __init__(
        self,
        work: LeasedWork[C, R],
        rows: LeasedRows,
        *,
        name: str,
        sessions: async_sessionmaker[AsyncSession],
        units: Callable[[], contextlib.AbstractAsyncContextManager[UnitOfWork]],
        lease: timedelta,
        every: float,
        workers: int = 1,
        healthy: Callable[[], bool] = lambda: True,
        conninfo: str | None = None,
        channels: Sequence[str] = (),
        record_within: float = 120.0,
        backoff: Backoff = PASS_BACKOFF,
    ) -> None:
        self.work = work
        self.rows = rows
        self.name = name
        self._sessions = sessions
        self._units = units
        self.lease = lease
        self._record_within = record_within
        self.loop = WorkLoop(
            self._pass,
            name=name,
            every=every,
            workers=workers,
            healthy=healthy,
            conninfo=conninfo,
            channels=channels,
            backoff=backoff,
        )

    def wake(self) -> None:
        """Look for due rows now (something was enqueued); harmless when there are none."""
        self.loop.wake()

    async def run(self) -> NoReturn:
        await self.loop.run()

    async def run_once(self) -> int:
        """Claim, work on and record one batch of due rows; how many were claimed (0 while holding)."""
        return await self.loop.run_once()

    async def _pass(self) -> int:
        claimed = await self.claim()
        if not claimed:
            return 0
        try:
            results = await self.work.perform(claimed)
            # The results are in hand: a database restarting meanwhile delays recording them, no more.
            await retry_while_unreachable(
                lambda: self.record(claimed, results),
                what=f"recording {self.name}",
                within=self._record_within,
            )
        except BaseException:
            # Handed back now rather than when the lease runs out (also once an unreachable database is
            # back: otherwise these rows would wait out the whole lease).
            with contextlib.suppress(Exception):
                await retry_while_unreachable(
                    lambda: self.release(claimed),
                    what=f"releasing a claim of {self.name}",
                    within=self._record_within,
                )
            raise
        return len(claimed)

    async def claim(self) -> list[C]:
        async with self._sessions() as session, session.begin():
            return list(await self.work.claim(session, self.lease))

    async def record(self, claimed: Sequence[C], results: Sequence[R]) -> int:
        """Record the results of the rows the claim still holds, in one unit of work; how many."""
        async with self._units() as uow:
            owned = await self.rows.owned(uow.session, claimed)
            held = [(c, r) for c, r in zip(claimed, results, strict=True) if c.row_id in owned]
            await self.work.record(uow, held)
            await self.rows.end(uow.session, [c for c, _ in held])
        return len(held)

    async def release(self, claimed: Sequence[C]) -> int:
        """Hand back, due at once, the rows the claim still holds."""
        async with self._sessions() as session, session.begin():
            return await self.rows.end(session, claimed)
