"""A campaign's sending window: open by the zone's wall clock across DST changes, `next_open` always open
and the earliest such instant, a step due at the first open instant after its delay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.schedule import WEEKDAYS, Schedule, due_at

ALL_DAYS = frozenset(WEEKDAYS)
WORKDAYS = frozenset(WEEKDAYS[:5])


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def schedule(zone: str, start: str, end: str, days: frozenset[str] = ALL_DAYS) -> Schedule:
    return Schedule(zone, days, start, end)


PRAGUE_9_17 = schedule("Europe/Prague", "09:00", "17:00", WORKDAYS)
PRAGUE_NIGHT = schedule("Europe/Prague", "01:00", "04:00", frozenset({"sun"}))


@pytest.mark.parametrize(
    ("sched", "at", "is_open", "next_open", "window_end"),
    [
        # Prague, winter (UTC+1) and summer (UTC+2): 09:00-17:00 local on workdays.
        pytest.param(
            PRAGUE_9_17, utc(2026, 1, 5, 7, 59), False, utc(2026, 1, 5, 8), None, id="winter before"
        ),
        pytest.param(
            PRAGUE_9_17, utc(2026, 1, 5, 8), True, utc(2026, 1, 5, 8), utc(2026, 1, 5, 16), id="winter open"
        ),
        pytest.param(
            PRAGUE_9_17, utc(2026, 1, 5, 16), False, utc(2026, 1, 6, 8), None, id="end is exclusive"
        ),
        pytest.param(
            PRAGUE_9_17, utc(2026, 1, 9, 17), False, utc(2026, 1, 12, 8), None, id="friday evening to monday"
        ),
        pytest.param(
            PRAGUE_9_17, utc(2026, 7, 1, 7), True, utc(2026, 7, 1, 7), utc(2026, 7, 1, 15), id="summer"
        ),
        # Spring forward 2026-03-29 (Sunday) and fall back 2026-10-25 (Sunday): a Monday window is 8 h on
        # both sides and opens at 09:00 local.
        pytest.param(
            PRAGUE_9_17, utc(2026, 3, 27, 16), False, utc(2026, 3, 30, 7), None, id="over spring forward"
        ),
        pytest.param(
            PRAGUE_9_17,
            utc(2026, 3, 30, 7),
            True,
            utc(2026, 3, 30, 7),
            utc(2026, 3, 30, 15),
            id="after spring",
        ),
        pytest.param(
            PRAGUE_9_17, utc(2026, 10, 23, 15), False, utc(2026, 10, 26, 8), None, id="over fall back"
        ),
        pytest.param(
            schedule("Europe/Prague", "09:00", "17:00", frozenset({"sun"})),
            utc(2026, 3, 29, 0),
            False,
            utc(2026, 3, 29, 7),
            None,
            id="09:00 local on the spring-forward day",
        ),
        # A window holding the skipped hour 02:00-03:00: 02:30 does not exist, the window opens at 03:00.
        pytest.param(
            schedule("Europe/Prague", "02:30", "05:00", frozenset({"sun"})),
            utc(2026, 3, 28, 12),
            False,
            utc(2026, 3, 29, 1),
            None,
            id="a start in the skipped hour opens when the hour ends",
        ),
        pytest.param(
            schedule("Europe/Prague", "02:30", "05:00", frozenset({"sun"})),
            utc(2026, 3, 29, 1),
            True,
            utc(2026, 3, 29, 1),
            utc(2026, 3, 29, 3),
            id="the day's window is two hours",
        ),
        pytest.param(
            schedule("Europe/Prague", "02:00", "02:30", frozenset({"sun"})),
            utc(2026, 3, 28, 12),
            False,
            utc(2026, 4, 5, 0),
            None,
            id="a window wholly in the skipped hour is skipped",
        ),
        pytest.param(
            schedule("Europe/Prague", "01:00", "02:30", frozenset({"sun"})),
            utc(2026, 3, 29, 0, 30),
            True,
            utc(2026, 3, 29, 0, 30),
            utc(2026, 3, 29, 1),
            id="an end in the skipped hour closes when the hour is skipped",
        ),
        # The repeated hour 02:00-03:00 on 2026-10-25 counts once: the first pass (UTC+2) is open, the
        # second (UTC+1, 01:00-02:00 UTC) closed.
        pytest.param(
            PRAGUE_NIGHT,
            utc(2026, 10, 24, 23),
            True,
            utc(2026, 10, 24, 23),
            utc(2026, 10, 25, 1),
            id="first pass",
        ),
        pytest.param(
            PRAGUE_NIGHT,
            utc(2026, 10, 25, 0, 30),
            True,
            utc(2026, 10, 25, 0, 30),
            utc(2026, 10, 25, 1),
            id="first pass 2",
        ),
        pytest.param(
            PRAGUE_NIGHT, utc(2026, 10, 25, 1), False, utc(2026, 10, 25, 2), None, id="second pass is closed"
        ),
        pytest.param(
            PRAGUE_NIGHT, utc(2026, 10, 25, 1, 59, 59), False, utc(2026, 10, 25, 2), None, id="to its end"
        ),
        pytest.param(
            PRAGUE_NIGHT,
            utc(2026, 10, 25, 2),
            True,
            utc(2026, 10, 25, 2),
            utc(2026, 10, 25, 3),
            id="03:00 CET",
        ),
        pytest.param(PRAGUE_NIGHT, utc(2026, 10, 25, 3), False, utc(2026, 11, 1, 0), None, id="next sunday"),
        pytest.param(
            schedule("Europe/Prague", "02:30", "02:45", frozenset({"sun"})),
            utc(2026, 10, 25, 0, 40),
            True,
            utc(2026, 10, 25, 0, 40),
            utc(2026, 10, 25, 0, 45),
            id="a window inside the repeated hour is its first pass only",
        ),
        pytest.param(
            schedule("Europe/Prague", "02:30", "02:45", frozenset({"sun"})),
            utc(2026, 10, 25, 0, 50),
            False,
            utc(2026, 11, 1, 1, 30),
            None,
            id="and is not open again in the second pass",
        ),
        # New York: spring forward 2026-03-08 02:00->03:00, fall back 2026-11-01 02:00->01:00.
        pytest.param(
            schedule("America/New_York", "09:00", "17:00"),
            utc(2026, 3, 8, 12),
            False,
            utc(2026, 3, 8, 13),
            None,
            id="new york 09:00 EDT on the spring-forward day",
        ),
        pytest.param(
            schedule("America/New_York", "09:00", "17:00"),
            utc(2026, 3, 7, 15),
            True,
            utc(2026, 3, 7, 15),
            utc(2026, 3, 7, 22),
            id="new york the day before, EST",
        ),
        pytest.param(
            schedule("America/New_York", "00:00", "24:00"),
            utc(2026, 11, 1, 5, 30),
            True,
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 1, 6),
            id="new york all day: the repeated 01:00-02:00 closes once",
        ),
        pytest.param(
            schedule("America/New_York", "00:00", "24:00"),
            utc(2026, 11, 1, 6, 15),
            False,
            utc(2026, 11, 1, 7),
            None,
            id="new york all day reopens at 02:00 EST",
        ),
        # Lord Howe shifts by 30 minutes: 02:00->02:30 on 2026-10-04, 02:00->01:30 on 2026-04-05.
        pytest.param(
            schedule("Australia/Lord_Howe", "02:10", "09:00", frozenset({"sun"})),
            utc(2026, 10, 3, 12),
            False,
            utc(2026, 10, 3, 15, 30),
            None,
            id="lord howe: 02:10 skipped, opens at 02:30 (+11)",
        ),
        pytest.param(
            schedule("Australia/Lord_Howe", "01:00", "03:00", frozenset({"sun"})),
            utc(2026, 4, 4, 14, 45),
            True,
            utc(2026, 4, 4, 14, 45),
            utc(2026, 4, 4, 15),
            id="lord howe: the half-hour repeats once",
        ),
        pytest.param(
            schedule("Australia/Lord_Howe", "01:00", "03:00", frozenset({"sun"})),
            utc(2026, 4, 4, 15, 10),
            False,
            utc(2026, 4, 4, 15, 30),
            None,
            id="lord howe: its second pass is closed",
        ),
        # "24:00", single days, back-to-back days.
        pytest.param(
            schedule("Europe/Prague", "18:00", "24:00", frozenset({"wed"})),
            utc(2026, 1, 7, 22, 59),
            True,
            utc(2026, 1, 7, 22, 59),
            utc(2026, 1, 7, 23),
            id="24:00 is midnight",
        ),
        pytest.param(
            schedule("Europe/Prague", "18:00", "24:00", frozenset({"wed"})),
            utc(2026, 1, 7, 23),
            False,
            utc(2026, 1, 14, 17),
            None,
            id="a single day a week",
        ),
        pytest.param(
            schedule("UTC", "00:00", "24:00", frozenset({"mon", "tue"})),
            utc(2026, 1, 5, 12),
            True,
            utc(2026, 1, 5, 12),
            utc(2026, 1, 6),
            id="back-to-back days end at the next day's start",
        ),
    ],
)
def test_the_window_by_wall_clock(
    sched: Schedule, at: datetime, is_open: bool, next_open: datetime, window_end: datetime | None
) -> None:
    assert sched.is_open(at) is is_open
    assert sched.next_open(at) == next_open
    if window_end is None:
        with pytest.raises(ValueError, match="closed"):
            sched.window_end(at)
    else:
        assert sched.window_end(at) == window_end
        assert not sched.is_open(window_end) or sched.next_open(window_end) == window_end


def test_answers_are_in_utc_whatever_the_input_zone() -> None:
    at = utc(2026, 1, 5, 7).astimezone(ZoneInfo(PRAGUE_9_17.timezone))
    assert PRAGUE_9_17.next_open(at).tzinfo is UTC


@pytest.mark.parametrize(
    ("base", "delay", "due"),
    [
        pytest.param(utc(2026, 1, 5, 10), 0, utc(2026, 1, 5, 10), id="no delay inside the window"),
        pytest.param(utc(2026, 1, 5, 10), 60, utc(2026, 1, 5, 11), id="a delay inside the window"),
        pytest.param(
            utc(2026, 1, 5, 15), 90, utc(2026, 1, 6, 8), id="a delay past closing waits for morning"
        ),
        pytest.param(utc(2026, 1, 9, 10), 3 * 24 * 60, utc(2026, 1, 12, 10), id="a delay into monday"),
        pytest.param(utc(2026, 1, 9, 10), 24 * 60, utc(2026, 1, 12, 8), id="a delay into saturday waits"),
    ],
)
def test_a_step_is_due_at_the_first_open_instant_after_its_delay(
    base: datetime, delay: int, due: datetime
) -> None:
    assert due_at(base, delay, PRAGUE_9_17) == due
    assert PRAGUE_9_17.due_at(base, delay) == due


def test_a_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        due_at(utc(2026, 1, 5), -1, PRAGUE_9_17)


ZONES = [
    "Europe/Prague",
    "America/New_York",
    "Australia/Lord_Howe",
    "UTC",
    "America/Santiago",
    "Asia/Kolkata",
]
# Instants near the DST changes of 2026 in those zones, so that hypothesis lands on them often.
NEAR = [
    utc(2026, 3, 29),
    utc(2026, 10, 25),
    utc(2026, 3, 8, 6),
    utc(2026, 11, 1, 6),
    utc(2026, 4, 4, 15),
    utc(2026, 10, 3, 15),
    utc(2026, 4, 5, 3),
    utc(2026, 9, 6, 4),
]


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    start = draw(st.integers(0, 24 * 4 - 1)) * 15
    end = draw(st.integers(start // 15 + 1, 24 * 4)) * 15
    days = draw(st.frozensets(st.sampled_from(WEEKDAYS), min_size=1))
    return Schedule(
        draw(st.sampled_from(ZONES)),
        days,
        f"{start // 60:02}:{start % 60:02}",
        f"{end // 60:02}:{end % 60:02}",
    )


instants = st.builds(
    lambda near, minutes, seconds: near + timedelta(minutes=minutes, seconds=seconds),
    st.sampled_from(NEAR),
    st.integers(-3 * 24 * 60, 3 * 24 * 60),
    st.sampled_from([0, 0, 0, 30, 59.5]),
)


@settings(max_examples=150, deadline=None)
@given(sched=schedules(), at=instants)
def test_next_open_is_open_and_no_open_minute_comes_before_it(sched: Schedule, at: datetime) -> None:
    found = sched.next_open(at)
    assert found >= at
    assert sched.is_open(found)
    probe = at
    while probe < found:
        assert not sched.is_open(probe), (probe, found)
        probe = probe.replace(second=0, microsecond=0) + timedelta(minutes=1)
    assert found == at or not sched.is_open(found - timedelta(seconds=1)) or found - timedelta(seconds=1) < at


@settings(max_examples=150, deadline=None)
@given(sched=schedules(), at=instants)
def test_window_end_is_the_first_closed_instant_or_the_next_days_start(sched: Schedule, at: datetime) -> None:
    opened = sched.next_open(at)
    end = sched.window_end(opened)
    assert end > opened
    probe = opened
    while probe < end:
        assert sched.is_open(probe), (probe, end)
        probe = probe.replace(second=0, microsecond=0) + timedelta(minutes=1)
    assert sched.is_open(end - timedelta(seconds=1))
    if sched.is_open(end):
        # only where the next local day's window begins right at this one's end
        local = end.astimezone(ZoneInfo(sched.timezone))
        assert (local.hour, local.minute) == (0, 0) or sched.start == "00:00"
