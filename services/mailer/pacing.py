"""How fast a mailbox and a campaign may send: daily limits, the gap between two sends, and which of a
campaign's mailboxes sends next. Pure state and decisions; the clock and the random draw are passed in.

Rules:
- A mailbox's day is the UTC day. A mailbox serves every campaign that lists it, whatever their time zones,
  so its count cannot follow any one campaign's calendar; the count starts again at 00:00 UTC.
- A campaign's day is the calendar day of its schedule's time zone: its sending window is local, and a UTC
  day would cut one local window in two (09:00-17:00 in Los Angeles spans a UTC midnight) and allow twice
  the limit in it. Where local midnight does not exist the new day starts when the clock skips past it.
- A day never goes backwards: a clock that falls back across midnight keeps counting into the day it left.
- Between two sends of a mailbox there are at least `min_gap_seconds` plus a random extra of up to half of
  it, drawn at each send (`rand` in [0, 1) from the caller) and kept in the pace as `next_gap`.
- `daily_limit=None` means no daily limit (benchmarks, local capture).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final, Generic, TypeVar

MAX_GAP_EXTRA: Final = 0.5
K = TypeVar("K")


@dataclass(frozen=True)
class Pacing:
    """A mailbox's settings: sends per UTC day (None: unlimited) and the minimum seconds between two sends."""

    daily_limit: int | None = 30
    min_gap_seconds: int = 120

    def __post_init__(self) -> None:
        if self.daily_limit is not None and self.daily_limit < 0:
            raise ValueError(f"a daily limit cannot be negative: {self.daily_limit}")
        if self.min_gap_seconds < 0:
            raise ValueError(f"a gap cannot be negative: {self.min_gap_seconds}")


@dataclass(frozen=True)
class MailboxPace:
    """What a mailbox has sent: `sent_today` on `day` (UTC), its last send and the gap that must follow it."""

    sent_today: int = 0
    day: date = date.min
    last_sent_at: datetime | None = None
    next_gap: timedelta = timedelta(0)


@dataclass(frozen=True)
class CampaignPace:
    """What a campaign has sent: `sent_today` on `day`, a calendar day in the campaign's time zone."""

    sent_today: int = 0
    day: date = date.min


@dataclass(frozen=True)
class Allowed:
    """Sending now is within every limit."""


@dataclass(frozen=True)
class NotBefore:
    """Too soon after the last send (or, from `pick`, no mailbox may send yet): wait until `time`."""

    time: datetime


@dataclass(frozen=True)
class LimitReached:
    """Today's limit is used up; the count starts again at `until`."""

    until: datetime


Decision = Allowed | NotBefore | LimitReached


@dataclass(frozen=True)
class Picked(Generic[K]):
    """The mailbox that sends now, and the rotation index to pass to the next `pick`."""

    mailbox: K
    next_rotation: int


def _local_day(at: datetime, zone: tzinfo) -> date:
    return at.astimezone(zone).date()


def _count_today(sent: int, day: date, now: datetime, zone: tzinfo) -> tuple[int, date]:
    """The count and day as of `now`: a later day starts from zero; an earlier one (a clock that fell back
    across midnight) keeps the later day's count."""
    today = _local_day(now, zone)
    return (0, today) if today > day else (sent, day)


def _next_day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of the day after `day` in `zone`, in UTC (a midnight that does not exist reads with
    the offset before the skip, which is when the clock skips past it)."""
    midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return midnight.replace(fold=0).astimezone(UTC)


def decide(pace: MailboxPace, pacing: Pacing, now: datetime) -> Decision:
    """May the mailbox send at `now`? The daily limit is checked first, then the gap."""
    sent, day = _count_today(pace.sent_today, pace.day, now, UTC)
    if pacing.daily_limit is not None and sent >= pacing.daily_limit:
        return LimitReached(_next_day_start(day, UTC))
    if pace.last_sent_at is not None and now < (ready := pace.last_sent_at + pace.next_gap):
        return NotBefore(ready.astimezone(UTC))
    return Allowed()


def after_send(pace: MailboxPace, pacing: Pacing, now: datetime, rand: float) -> MailboxPace:
    """The pace once the mailbox sent at `now`; `rand` in [0, 1) draws the extra part of the next gap."""
    if not 0 <= rand < 1:
        raise ValueError(f"rand must be in [0, 1), not {rand}")
    sent, day = _count_today(pace.sent_today, pace.day, now, UTC)
    gap = timedelta(seconds=pacing.min_gap_seconds * (1 + MAX_GAP_EXTRA * rand))
    return MailboxPace(sent_today=sent + 1, day=day, last_sent_at=now, next_gap=gap)


def decide_campaign(pace: CampaignPace, daily_limit: int | None, zone: tzinfo, now: datetime) -> Decision:
    """May the campaign send one more email at `now`, its day being a calendar day in `zone`?"""
    sent, day = _count_today(pace.sent_today, pace.day, now, zone)
    if daily_limit is not None and sent >= daily_limit:
        return LimitReached(_next_day_start(day, zone))
    return Allowed()


def after_campaign_send(pace: CampaignPace, zone: tzinfo, now: datetime) -> CampaignPace:
    sent, day = _count_today(pace.sent_today, pace.day, now, zone)
    return replace(pace, sent_today=sent + 1, day=day)


def pick(
    mailboxes: Sequence[tuple[K, MailboxPace, Pacing]], rotation: int, now: datetime
) -> Picked[K] | NotBefore:
    """Round robin over a campaign's mailboxes from position `rotation`: the first one allowed to send now,
    or, when none is, the earliest time one will be."""
    if not mailboxes:
        raise ValueError("a campaign with no mailbox cannot send")
    waits: list[datetime] = []
    for step in range(len(mailboxes)):
        position = (rotation + step) % len(mailboxes)
        mailbox, pace, pacing = mailboxes[position]
        match decide(pace, pacing, now):
            case Allowed():
                return Picked(mailbox, (position + 1) % len(mailboxes))
            case NotBefore(time=ready):
                waits.append(ready)
            case LimitReached(until=until):
                waits.append(until)
    return NotBefore(min(waits))
