"""The runtime's WorkLoop: a pass that did something is followed by another at once, an idle loop waits
for a wake or its timer, an unhealthy one runs no pass, and a failing pass is tried again after a pause."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from services.runtime.backoff import Backoff
from services.runtime.leased_work import WorkLoop


class Work:
    """Returns the next of `results` on each pass (0 once they run out); an Exception in it is raised."""

    def __init__(self, *results: int | Exception) -> None:
        self.results = list(results)
        self.passes = 0

    async def __call__(self) -> int:
        self.passes += 1
        if not self.results:
            return 0
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


@contextlib.asynccontextmanager
async def running(loop: WorkLoop) -> AsyncIterator[None]:
    task = asyncio.create_task(loop.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settled(work: Work, passes: int, within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while work.passes < passes:
        assert time.monotonic() < deadline, f"{work.passes} passes, not {passes}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("results", "passes"),
    [
        ((), 1),  # nothing to do: one pass, then the (long) timer
        ((3, 5, 1), 4),  # busy passes follow each other, then one that finds nothing
        ((2, 0, 7), 2),  # a pass that finds nothing waits, even if more would come
    ],
)
async def test_busy_passes_follow_each_other_and_an_idle_one_waits(
    results: tuple[int, ...], passes: int
) -> None:
    work = Work(*results)
    async with running(WorkLoop(work, name="t", every=60.0)):
        await settled(work, passes)
        await asyncio.sleep(0.1)
        assert work.passes == passes


async def test_a_wake_starts_a_pass_before_the_timer() -> None:
    work = Work()
    loop = WorkLoop(work, name="t", every=60.0)
    async with running(loop):
        await settled(work, 1)
        loop.wake()
        await settled(work, 2)


@pytest.mark.parametrize("healthy", [True, False])
async def test_no_pass_runs_while_unhealthy(healthy: bool) -> None:
    work = Work(4)
    loop = WorkLoop(work, name="t", every=60.0, healthy=lambda: healthy)
    assert await loop.run_once() == (4 if healthy else 0)
    assert work.passes == (1 if healthy else 0)


async def test_a_failing_pass_is_tried_again_after_a_pause() -> None:
    work = Work(RuntimeError("down"), RuntimeError("still down"), 1)
    started = time.monotonic()
    async with running(WorkLoop(work, name="t", every=60.0, backoff=Backoff(first=0.1, most=0.1))):
        await settled(work, 4)  # two failures, the pass that did something, one that found nothing
    assert time.monotonic() - started >= 0.2  # a pause after each failure
