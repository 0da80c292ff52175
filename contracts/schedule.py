"""A campaign's sending window: the days and the wall-clock hours, in the campaign's time zone. No I/O.

In contracts because two services read it: the sequencer decides when a step is due, and the mailer
never sends outside the window (a send held back by a mailbox's limits waits for the next opening).

The window is open at an instant when the instant's wall-clock time in the zone falls on one of the days,
at or after `start` and before `end` (`"24:00"` is the end of the day, so a window never crosses midnight).
Across a DST change the wall clock decides, with two rules:

- a wall time that does not exist (the hour skipped in spring) is skipped: a window starting at 02:30 on
  that day opens at the first instant after the gap, and the window is that much shorter;
- a wall time that happens twice (the hour repeated in autumn) counts once, the first time: the second
  pass through the repeated hour is closed, so a window never holds more wall-clock time than it names.

All instants in and out are timezone-aware; answers are in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
END_OF_DAY: Final = "24:00"
_MINUTES_PER_DAY: Final = 24 * 60
_TIME = re.compile(r"(\d\d):(\d\d)")
_KEYS: Final = ("timezone", "days", "from", "to")
# Every weekday comes within a week; a day whose whole window falls in a skipped hour can push the next
# opening one more week, and no zone skips more than a day, so three weeks always find one.
_SEARCH_DAYS: Final = 21


@dataclass(frozen=True)
class ScheduleError:
    """One thing wrong with a schedule: the field (`timezone`, `days`, `from`, `to`, or `schedule`) and why."""

    field: str
    message: str


class InvalidSchedule(ValueError):
    """A schedule was refused; `errors` holds every reason, not just the first."""

    def __init__(self, errors: list[ScheduleError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = tuple(errors)


def _minutes(text: object, *, allow_end_of_day: bool) -> int | None:
    """`"HH:MM"` → minutes since midnight, or None when it is not a time of day."""
    if not isinstance(text, str) or not (m := _TIME.fullmatch(text)):
        return None
    if allow_end_of_day and text == END_OF_DAY:
        return _MINUTES_PER_DAY
    hours, minutes = int(m[1]), int(m[2])
    return hours * 60 + minutes if hours < 24 and minutes < 60 else None


def _zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _check(timezone: object, days: object, start: object, end: object) -> list[ScheduleError]:
    errors: list[ScheduleError] = []
    if _zone(timezone) is None:
        errors.append(ScheduleError("timezone", f"unknown time zone {timezone!r} (an IANA name)"))
    if isinstance(days, str) or not isinstance(days, list | tuple | set | frozenset):
        errors.append(ScheduleError("days", "must be a list of weekdays: " + ", ".join(WEEKDAYS)))
    else:
        if not days:
            errors.append(ScheduleError("days", "at least one day is needed"))
        for day in days:
            if day not in WEEKDAYS:
                errors.append(ScheduleError("days", f"unknown day {day!r}; days are " + ", ".join(WEEKDAYS)))
    first = _minutes(start, allow_end_of_day=False)
    last = _minutes(end, allow_end_of_day=True)
    if first is None:
        errors.append(ScheduleError("from", f"{start!r} is not a time HH:MM between 00:00 and 23:59"))
    if last is None:
        errors.append(ScheduleError("to", f"{end!r} is not a time HH:MM between 00:01 and 24:00"))
    if first is not None and last is not None and first >= last:
        errors.append(ScheduleError("to", f"must be later than from ({start} to {end} is empty)"))
    return errors


@dataclass(frozen=True)
class Schedule:
    """Days (`"mon"`..`"sun"`) and the hours `start`..`end` (`"HH:MM"`, end may be `"24:00"`) in `timezone`."""

    timezone: str
    days: frozenset[str]
    start: str
    end: str
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _weekdays: frozenset[int] = field(init=False, repr=False, compare=False)
    _start: int = field(init=False, repr=False, compare=False)
    _end: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if errors := _check(self.timezone, self.days, self.start, self.end):
            raise InvalidSchedule(errors)
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        object.__setattr__(self, "_weekdays", frozenset(WEEKDAYS.index(d) for d in self.days))
        object.__setattr__(self, "_start", _minutes(self.start, allow_end_of_day=False))
        object.__setattr__(self, "_end", _minutes(self.end, allow_end_of_day=True))

    @classmethod
    def from_json(cls, data: object) -> Schedule:
        """The API's `{"timezone", "days", "from", "to"}`; raises `InvalidSchedule` with every error."""
        if not isinstance(data, Mapping):
            raise InvalidSchedule([ScheduleError("schedule", "must be an object with " + ", ".join(_KEYS))])
        errors = [ScheduleError(k, "is required") for k in _KEYS if k not in data]
        errors += [ScheduleError(str(k), "is not a schedule field") for k in data if k not in _KEYS]
        if errors:
            raise InvalidSchedule(errors)
        if errors := _check(data["timezone"], data["days"], data["from"], data["to"]):
            raise InvalidSchedule(errors)
        return cls(data["timezone"], frozenset(data["days"]), data["from"], data["to"])

    def to_json(self) -> dict[str, object]:
        days = [d for d in WEEKDAYS if d in self.days]
        return {"timezone": self.timezone, "days": days, "from": self.start, "to": self.end}

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self._zone)
        if _second_pass(local):
            return False
        minute = local.hour * 60 + local.minute
        return local.weekday() in self._weekdays and self._start <= minute < self._end

    def next_open(self, at: datetime) -> datetime:
        """The earliest instant at or after `at` inside the window, in UTC."""
        at = at.astimezone(UTC)
        if self.is_open(at):
            return at
        local = at.astimezone(self._zone)
        # After the second pass through a repeated hour the window may go on (the wall time it reaches was
        # open the first time); otherwise it opens at a day's start, and the days' starts come in order.
        after_repeat = _end_of_second_pass(at, self._zone) if _second_pass(local) else None
        if after_repeat is not None and self.is_open(after_repeat):
            return after_repeat
        day = local.date() - timedelta(days=1)
        for offset in range(_SEARCH_DAYS):
            d = day + timedelta(days=offset)
            if d.weekday() in self._weekdays:
                start = self._first_instant(d, self._start)
                if start >= at and self.is_open(start):
                    return start
        raise AssertionError(f"no opening of {self} within {_SEARCH_DAYS} days of {at}")

    def window_end(self, at: datetime) -> datetime:
        """Where the open stretch holding `at` ends, in UTC: the instant the window closes, or the start of
        the next day's window when it begins right there (`"24:00"` followed by a `"00:00"` day)."""
        at = at.astimezone(UTC)
        if not self.is_open(at):
            raise ValueError(f"the window is closed at {at.isoformat()}")
        local = at.astimezone(self._zone)
        end = self._first_instant(local.date(), self._end)
        offset = _offset(local)
        if _offset(end.astimezone(self._zone)) < offset:
            # The clock falls back before the window's end: its second pass through the repeated wall
            # time is closed, so the stretch ends where the clock falls back.
            return _first_at_or_after(at, end, lambda t: _offset(t.astimezone(self._zone)) < offset)
        return end

    def due_at(self, base: datetime, delay_minutes: int) -> datetime:
        return due_at(base, delay_minutes, self)

    def _first_instant(self, day: date, minute: int) -> datetime:
        """The first instant whose wall time is `minute` past midnight on `day` or later (a wall time in a
        skipped hour resolves to the end of the gap; a repeated one to its first pass)."""
        wall = datetime.combine(day + timedelta(days=minute // _MINUTES_PER_DAY), time(), tzinfo=self._zone)
        wall += timedelta(minutes=minute % _MINUTES_PER_DAY)
        first = wall.replace(fold=0).astimezone(UTC)
        if first.astimezone(self._zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
            return first
        # A skipped wall time: fold=1 reads it with the offset after the gap (an instant before the gap),
        # fold=0 with the offset before it (an instant after); the gap ends between them.
        naive = wall.replace(tzinfo=None)
        earlier = wall.replace(fold=1).astimezone(UTC)
        return _first_at_or_after(
            earlier, first, lambda t: t.astimezone(self._zone).replace(tzinfo=None) >= naive
        )


def due_at(base: datetime, delay_minutes: int, schedule: Schedule) -> datetime:
    """When a step waiting `delay_minutes` after `base` may be sent: the first open instant from then on."""
    if delay_minutes < 0:
        raise ValueError(f"a delay cannot be negative: {delay_minutes}")
    return schedule.next_open(base + timedelta(minutes=delay_minutes))


def _second_pass(local: datetime) -> bool:
    """Whether a local time is the second pass through a repeated (autumn) wall time."""
    return local.fold == 1 and _offset(local.replace(fold=0)) != _offset(local)


def _offset(local: datetime) -> timedelta:
    offset = local.utcoffset()
    if offset is None:
        raise ValueError(f"{local!r} is not timezone-aware")
    return offset


def _end_of_second_pass(at: datetime, zone: ZoneInfo) -> datetime:
    local = at.astimezone(zone)
    repeated = _offset(local.replace(fold=0)) - _offset(local)
    return _first_at_or_after(at, at + repeated, lambda t: not _second_pass(t.astimezone(zone)))


def _first_at_or_after(lo: datetime, hi: datetime, reached: Callable[[datetime], bool]) -> datetime:
    """The first instant in [lo, hi] where `reached` holds, for a `reached` false then true over that span
    and true at `hi`. Zone transitions fall on whole seconds, so only whole seconds are searched."""
    if reached(lo):
        return lo
    base = lo.replace(microsecond=0)  # reached(base) is false too: no transition lies inside a second
    low, high = 0, int((hi - base).total_seconds()) + 1  # base + high seconds is past hi: reached
    while high - low > 1:
        mid = (low + high) // 2
        if reached(base + timedelta(seconds=mid)):
            high = mid
        else:
            low = mid
    return min(base + timedelta(seconds=high), hi)
