"""The one way the runtime waits before trying again: an exponential backoff, run by `stamina`.

`Backoff(first, most)` pauses `first` seconds after the first failure, twice as long after each further
one, never more than `most`, with no jitter (a handful of processes per machine, not a thundering herd).
`retry_while` retries one unit of work for a bounded time; `run_forever` keeps a long-lived session (a
LISTEN connection) going, and starts the schedule again after a session that got established.

Pure schedules that something else waits out (JetStream's `nak(delay=)` in `consumer.redelivery_delay`,
the supervisor's `not_before` in `supervision.restart_delay`) stay plain functions: stamina runs the
retries itself and keeps no schedule a caller could read without sleeping through it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NoReturn, Protocol, TypeVar

import stamina
import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


class _Attempts(Protocol):
    """What `stamina.retry_context` returns (its class is private): attempts to iterate either way."""

    def __iter__(self) -> Iterator[stamina.Attempt]: ...
    def __aiter__(self) -> AsyncIterator[stamina.Attempt]: ...


@dataclass(frozen=True)
class Backoff:
    first: float
    most: float

    def attempts(
        self,
        on: Callable[[Exception], bool | float] | type[Exception],
        *,
        within: float | None = None,
        tries: int | None = None,
    ) -> AsyncIterable[stamina.Attempt]:
        """Attempts for `async for attempt in …: with attempt: …`, for as long as `on` says to retry (an
        exception type, or `on(exc)`: a float is a pause of its own for that once), at most `tries` times
        and, with `within`, until that many seconds have passed; the last error is raised then."""
        return self._context(on, within=within, tries=tries)

    def blocking_attempts(
        self,
        on: Callable[[Exception], bool | float] | type[Exception],
        *,
        within: float | None = None,
        tries: int | None = None,
    ) -> Iterable[stamina.Attempt]:
        """The same for synchronous code (`for attempt in …`), pausing with `time.sleep`."""
        return self._context(on, within=within, tries=tries)

    def _context(
        self,
        on: Callable[[Exception], bool | float] | type[Exception],
        *,
        within: float | None,
        tries: int | None,
    ) -> _Attempts:
        return stamina.retry_context(
            on=on,
            attempts=tries,
            timeout=within,
            wait_initial=self.first,
            wait_max=self.most,
            wait_jitter=0.0,
        )


# A connection that went away: back within half a second when it can be, never more than 10 s apart.
RECONNECT = Backoff(first=0.5, most=10.0)


async def retry_while(
    work: Callable[[], Awaitable[T]],
    *,
    retryable: Callable[[Exception], bool],
    what: str,
    within: float,
    backoff: Backoff,
    waiting: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """`work()` done again while it fails with a `retryable` error, for up to about `within` seconds (the
    last pause may end past it); then the last error is raised. `waiting` runs after each pause, before
    the next try (e.g. to tell JetStream a message is still being worked on)."""

    def retry(exc: Exception) -> bool:
        if not isinstance(exc, Exception) or not retryable(exc):  # a cancellation reaches here too
            return False
        log.warning(f"{what} failed, retrying", work=what, error=repr(exc))
        return True

    async for attempt in backoff.attempts(retry, within=within):
        if attempt.num > 1 and waiting is not None:
            await waiting()
        with attempt:
            return await work()
    raise AssertionError("stamina ends its attempts by returning or raising")  # pragma: no cover


async def run_forever(
    session: Callable[[Callable[[], None]], Awaitable[NoReturn]],
    *,
    what: str,
    backoff: Backoff = RECONNECT,
    on_failure: Callable[[Exception], None] | None = None,
) -> NoReturn:
    """Run `session(established)` again and again, pausing after each failure as `backoff` says; cancel
    the task to stop. The session calls `established()` once it is up (connected and listening): the
    failure that ends it is followed by the first pause, and the schedule starts again from there."""
    while True:
        await _sessions_until_one_was_up(session, what=what, backoff=backoff, on_failure=on_failure)


async def _sessions_until_one_was_up(
    session: Callable[[Callable[[], None]], Awaitable[NoReturn]],
    *,
    what: str,
    backoff: Backoff,
    on_failure: Callable[[Exception], None] | None,
) -> None:
    """Sessions tried on one schedule, until one that got established failed and its pause is over."""
    up = False

    def established() -> None:
        nonlocal up
        up = True

    def retry(exc: Exception) -> bool | float:
        if not isinstance(exc, Exception):
            return False  # a cancellation, which tenacity hands here like any error
        log.warning(f"{what} failed, retrying", error=repr(exc))
        if on_failure is not None:
            on_failure(exc)
        return backoff.first if up else True

    async for attempt in backoff.attempts(retry):
        if up:
            return
        with attempt:
            await session(established)
