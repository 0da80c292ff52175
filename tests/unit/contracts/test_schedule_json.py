"""A campaign's schedule from the API's JSON: refused with every error at once, answered back as given."""

from __future__ import annotations

import pytest

from contracts.schedule import InvalidSchedule, Schedule, ScheduleError


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        pytest.param(
            {"timezone": "Mars/Olympus", "days": ["mon"], "from": "09:00", "to": "17:00"},
            [ScheduleError("timezone", "unknown time zone 'Mars/Olympus' (an IANA name)")],
            id="unknown zone",
        ),
        pytest.param(
            {"timezone": "Europe/Prague", "days": ["mon", "funday", "Tue"], "from": "09:00", "to": "17:00"},
            [
                ScheduleError("days", "unknown day 'funday'; days are mon, tue, wed, thu, fri, sat, sun"),
                ScheduleError("days", "unknown day 'Tue'; days are mon, tue, wed, thu, fri, sat, sun"),
            ],
            id="every bad day",
        ),
        pytest.param(
            {"timezone": "Europe/Prague", "days": [], "from": "09:00", "to": "17:00"},
            [ScheduleError("days", "at least one day is needed")],
            id="no days",
        ),
        pytest.param(
            {"timezone": "Europe/Prague", "days": "mon", "from": "09:00", "to": "17:00"},
            [ScheduleError("days", "must be a list of weekdays: mon, tue, wed, thu, fri, sat, sun")],
            id="days not a list",
        ),
        pytest.param(
            {"timezone": "Europe/Prague", "days": ["mon"], "from": "17:00", "to": "09:00"},
            [ScheduleError("to", "must be later than from (17:00 to 09:00 is empty)")],
            id="from after to",
        ),
        pytest.param(
            {"timezone": "Europe/Prague", "days": ["mon"], "from": "09:00", "to": "09:00"},
            [ScheduleError("to", "must be later than from (09:00 to 09:00 is empty)")],
            id="from equal to to",
        ),
        pytest.param(
            {"timezone": "", "days": ["sun", "x"], "from": "24:00", "to": "9:00"},
            [
                ScheduleError("timezone", "unknown time zone '' (an IANA name)"),
                ScheduleError("days", "unknown day 'x'; days are mon, tue, wed, thu, fri, sat, sun"),
                ScheduleError("from", "'24:00' is not a time HH:MM between 00:00 and 23:59"),
                ScheduleError("to", "'9:00' is not a time HH:MM between 00:01 and 24:00"),
            ],
            id="every error at once, 24:00 only as an end",
        ),
        pytest.param(
            {"timezone": "Europe/Prague", "days": ["mon"], "from": "09:60", "to": 17},
            [
                ScheduleError("from", "'09:60' is not a time HH:MM between 00:00 and 23:59"),
                ScheduleError("to", "17 is not a time HH:MM between 00:01 and 24:00"),
            ],
            id="bad times",
        ),
        pytest.param(
            {"timezone": "Europe/Prague", "days": ["mon"], "to": "17:00", "extra": 1},
            [ScheduleError("from", "is required"), ScheduleError("extra", "is not a schedule field")],
            id="missing and unknown fields",
        ),
        pytest.param(
            ["mon"],
            [ScheduleError("schedule", "must be an object with timezone, days, from, to")],
            id="not an object",
        ),
    ],
)
def test_a_bad_schedule_is_refused_with_every_error(data: object, errors: list[ScheduleError]) -> None:
    with pytest.raises(InvalidSchedule) as refused:
        Schedule.from_json(data)
    assert list(refused.value.errors) == errors


def test_a_good_schedule_parses_and_answers_its_json() -> None:
    data = {"timezone": "Europe/Prague", "days": ["fri", "mon"], "from": "09:00", "to": "24:00"}
    parsed = Schedule.from_json(data)
    assert parsed == Schedule("Europe/Prague", frozenset({"mon", "fri"}), "09:00", "24:00")
    assert parsed.to_json() == {
        "timezone": "Europe/Prague",
        "days": ["mon", "fri"],
        "from": "09:00",
        "to": "24:00",
    }


def test_the_constructor_validates_too() -> None:
    with pytest.raises(InvalidSchedule):
        Schedule("Europe/Prague", frozenset({"mon"}), "10:00", "09:00")
