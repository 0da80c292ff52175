"""When `leadflow up` restarts what died: the same rule for a service, NATS and PostgreSQL.

A process that ran for a while and then died is restarted at once. One that dies (or fails to start)
again and again within `QUICK_EXIT_SECONDS` of its start is restarted after a delay that doubles each
time, up to `MAX_DELAY_SECONDS`, and never given up on: a service waiting for its database must come
back by itself when the database does. Pure: the caller passes the clock in.
"""

from __future__ import annotations

from dataclasses import dataclass

# A run shorter than this counts as one more failure in a row (a crash loop, or a start that failed).
QUICK_EXIT_SECONDS = 5.0
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 30.0


def restart_delay(failures_in_a_row: int) -> float:
    """How long to wait before the next start, after this many quick failures in a row."""
    if failures_in_a_row <= 0:
        return 0.0
    return min(FIRST_DELAY_SECONDS * 2.0 ** min(failures_in_a_row - 1, 16), MAX_DELAY_SECONDS)


@dataclass(frozen=True)
class Restarts:
    """What the supervisor remembers of one supervised process between its starts."""

    failures_in_a_row: int = 0
    not_before: float = 0.0  # the (monotonic) time before which no start is tried

    def exited(self, *, ran_for: float, now: float) -> Restarts:
        """It was found dead `ran_for` seconds after it was started."""
        failures = self.failures_in_a_row + 1 if ran_for < QUICK_EXIT_SECONDS else 0
        return Restarts(failures, now + restart_delay(failures))

    def start_failed(self, *, now: float) -> Restarts:
        """Starting it raised: as a quick exit."""
        failures = self.failures_in_a_row + 1
        return Restarts(failures, now + restart_delay(failures))

    def due(self, now: float) -> bool:
        return now >= self.not_before
