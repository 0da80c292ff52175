"""The restart rule `leadflow up` applies alike to a service, NATS and PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.supervision import (
    MAX_DELAY_SECONDS,
    QUICK_EXIT_SECONDS,
    Restarts,
    restart_delay,
)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, MAX_DELAY_SECONDS), (500, MAX_DELAY_SECONDS)],
)
def test_the_delay_doubles_with_each_quick_failure_up_to_a_cap(failures: int, delay: float) -> None:
    assert restart_delay(failures) == delay


@pytest.mark.parametrize(
    ("before", "ran_for", "failures", "not_before"),
    [
        # Died after running a while (a kill -9 of a healthy server): started again at once.
        (Restarts(), 3600.0, 0, 100.0),
        (Restarts(failures_in_a_row=4), QUICK_EXIT_SECONDS, 0, 100.0),
        # Died right after its start: one more failure in a row, a longer pause.
        (Restarts(), 1.0, 1, 100.5),
        (Restarts(failures_in_a_row=3), 0.2, 4, 104.0),
    ],
)
def test_an_exit_counts_as_a_failure_only_soon_after_the_start(
    before: Restarts, ran_for: float, failures: int, not_before: float
) -> None:
    after = before.exited(ran_for=ran_for, now=100.0)
    assert after == Restarts(failures_in_a_row=failures, not_before=not_before)
    assert not after.due(not_before - 0.01) and after.due(not_before)


def test_a_start_that_fails_backs_off_like_a_quick_exit() -> None:
    restarts = Restarts().start_failed(now=10.0).start_failed(now=11.0)
    assert restarts == Restarts(failures_in_a_row=2, not_before=12.0)


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=40))
def test_it_is_never_given_up_on(runs: list[float]) -> None:
    restarts, now = Restarts(), 0.0
    for ran_for in runs:
        now += ran_for
        restarts = restarts.exited(ran_for=ran_for, now=now)
        assert restarts.not_before - now <= MAX_DELAY_SECONDS
        now = restarts.not_before
        assert restarts.due(now)
