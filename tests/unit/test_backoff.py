"""The one backoff: the pauses stamina takes for a `Backoff`, bounded retries and a session kept running.

Schedules are observed through stamina's own `Attempt.next_wait` on small, scaled-down values (the
schedule is linear in `first` and `most`), so the tests wait milliseconds, not the real seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import NoReturn

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.runtime.backoff import RECONNECT, Backoff, retry_while, run_forever
from services.runtime.db import UNREACHABLE_BACKOFF


class Refused(Exception):
    pass


async def observed_pauses_up_to(backoff: Backoff, n: int) -> list[float]:
    """The pause stamina announces after each of the first `n` attempts (all but the last fail)."""
    pauses: list[float] = []
    async for attempt in backoff.attempts(lambda exc: isinstance(exc, Refused)):
        with attempt:
            pauses.append(attempt.next_wait)
            if len(pauses) < n:
                raise Refused
    return pauses


def scaled(backoff: Backoff) -> Backoff:
    return Backoff(first=backoff.first / 1000, most=backoff.most / 1000)


@pytest.mark.parametrize(
    ("backoff", "seconds"),
    [
        (RECONNECT, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]),
        (UNREACHABLE_BACKOFF, [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]),
    ],
)
async def test_the_pause_doubles_from_first_up_to_most(backoff: Backoff, seconds: list[float]) -> None:
    pauses = await observed_pauses_up_to(scaled(backoff), len(seconds))
    assert pauses == pytest.approx([s / 1000 for s in seconds])


@settings(max_examples=40, deadline=None)
@given(
    first=st.floats(min_value=1e-6, max_value=1e-4),
    ratio=st.floats(min_value=1.0, max_value=40.0),
    n=st.integers(min_value=1, max_value=10),
)
async def test_the_schedule_never_shrinks_and_never_passes_most(first: float, ratio: float, n: int) -> None:
    backoff = Backoff(first=first, most=first * ratio)
    pauses = await observed_pauses_up_to(backoff, n)
    assert pauses[0] == pytest.approx(min(first, backoff.most))
    assert all(a <= b for a, b in itertools.pairwise(pauses))
    assert all(p <= backoff.most for p in pauses)
    for a, b in itertools.pairwise(pauses):
        assert b == pytest.approx(min(2 * a, backoff.most))


async def test_retry_while_gives_up_at_once_on_an_error_it_may_not_retry() -> None:
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        raise ValueError("refused statement")

    with pytest.raises(ValueError, match="refused statement"):
        await retry_while(
            work, retryable=lambda exc: isinstance(exc, Refused), what="t", within=5.0, backoff=RECONNECT
        )
    assert calls == 1


async def test_retry_while_retries_until_the_work_succeeds_and_runs_waiting_before_each_retry() -> None:
    calls: list[str] = []

    async def work() -> str:
        calls.append("work")
        if calls.count("work") < 3:
            raise Refused
        return "done"

    async def waiting() -> None:
        calls.append("waiting")

    result = await retry_while(
        work,
        retryable=lambda exc: isinstance(exc, Refused),
        what="t",
        within=5.0,
        backoff=Backoff(first=0.001, most=0.002),
        waiting=waiting,
    )
    assert result == "done"
    assert calls == ["work", "waiting", "work", "waiting", "work"]


async def test_retry_while_raises_the_last_error_once_its_time_is_up() -> None:
    started = time.monotonic()

    async def work() -> None:
        raise Refused

    with pytest.raises(Refused):
        await retry_while(
            work,
            retryable=lambda exc: isinstance(exc, Refused),
            what="t",
            within=0.2,
            backoff=Backoff(first=0.01, most=0.05),
        )
    assert 0.2 <= time.monotonic() - started < 2.0


async def test_an_established_session_that_fails_starts_the_schedule_again() -> None:
    # Sessions 1 and 2 fail to connect, 3 gets up and then fails, 4 and 5 fail to connect again.
    backoff = Backoff(first=0.2, most=3.2)
    starts: list[float] = []
    done = asyncio.Event()

    async def session(established: Callable[[], None]) -> NoReturn:
        starts.append(time.monotonic())
        if len(starts) == 3:
            established()
        if len(starts) == 6:
            done.set()
            await asyncio.Event().wait()
        raise Refused

    task = asyncio.create_task(run_forever(session, what="t", backoff=backoff))
    await asyncio.wait_for(done.wait(), 10.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # Without the fresh start the pauses after session 3 would be 0.8 and 1.6.
    expected = [0.2, 0.4, 0.2, 0.2, 0.4]
    assert all(gap >= e * 0.95 for gap, e in zip(gaps, expected, strict=True)), gaps
    assert gaps[3] < 0.6 and gaps[4] < 0.8, gaps


async def test_cancelling_a_session_stops_run_forever_instead_of_retrying_it() -> None:
    started = asyncio.Event()
    starts = 0

    async def session(established: Callable[[], None]) -> NoReturn:
        nonlocal starts
        starts += 1
        established()
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("never woken")

    task = asyncio.create_task(run_forever(session, what="t", backoff=Backoff(first=0.001, most=0.001)))
    await asyncio.wait_for(started.wait(), 5.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5.0)
    assert starts == 1


def test_blocking_attempts_stop_after_their_tries_and_raise_the_last_error() -> None:
    calls: list[float] = []
    with pytest.raises(Refused, match="3"):
        for attempt in Backoff(first=0.001, most=0.002).blocking_attempts(Refused, tries=3):
            with attempt:
                calls.append(attempt.next_wait)
                raise Refused(str(len(calls)))
    assert calls == pytest.approx([0.001, 0.002, 0.002])


def test_blocking_attempts_do_not_retry_an_error_of_another_kind() -> None:
    calls = 0
    with pytest.raises(ValueError, match="not retried"):
        for attempt in Backoff(first=0.001, most=0.002).blocking_attempts(Refused, tries=3):
            with attempt:
                calls += 1
                raise ValueError("not retried")
    assert calls == 1
