"""The reservation planner: table-driven cases, and a hypothesis run over arbitrary ticks, limits, gaps,
windows and DST dates in which no daily limit, gap or window is ever broken and nothing goes twice."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.schedule import Schedule
from services.mailer.pacing import CampaignPace, MailboxPace, Pacing
from services.mailer.planner import (
    BUSY_RETRY,
    CampaignState,
    MailboxState,
    QueuedSend,
    plan,
)

MONDAY_NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
A, B = uuid.UUID(int=1), uuid.UUID(int=2)
OFFICE = Schedule("Europe/Prague", frozenset({"mon", "tue", "wed", "thu", "fri"}), "09:00", "17:00")


def mailbox(id_: uuid.UUID, limit: int | None = 30, gap: int = 0, **fields: object) -> MailboxState:
    return MailboxState(id_, Pacing(limit, gap), MailboxPace(), **fields)  # type: ignore[arg-type]


def campaign(*ids: uuid.UUID, limit: int | None = None, schedule: Schedule | None = None) -> CampaignState:
    return CampaignState(tuple(ids), limit, schedule, CampaignPace())


def sends(n: int) -> list[QueuedSend]:
    return [QueuedSend(uuid.UUID(int=100 + i)) for i in range(n)]


def zero() -> float:
    return 0.0


def test_the_mailboxes_take_turns() -> None:
    out = plan(sends(4), {A: mailbox(A), B: mailbox(B)}, campaign(A, B), MONDAY_NOON, zero)
    assert [r.mailbox_id for r in out.reserved] == [A, B, A, B]
    assert out.deferred == ()
    assert out.mailboxes[A].sent_today == 2 and out.campaign.sent_today == 4


def test_a_gap_defers_the_next_send_of_the_mailbox() -> None:
    out = plan(sends(2), {A: mailbox(A, gap=120)}, campaign(A), MONDAY_NOON, zero)
    assert [r.mailbox_id for r in out.reserved] == [A]
    assert [d.not_before for d in out.deferred] == [MONDAY_NOON + timedelta(seconds=120)]


def test_the_campaign_limit_defers_to_the_next_local_day_in_the_window() -> None:
    out = plan(sends(3), {A: mailbox(A)}, campaign(A, limit=2, schedule=OFFICE), MONDAY_NOON, zero)
    assert len(out.reserved) == 2
    # Tuesday 09:00 in Prague (CET, UTC+1).
    assert [d.not_before for d in out.deferred] == [datetime(2026, 3, 3, 8, 0, tzinfo=UTC)]


def test_a_closed_window_reserves_nothing() -> None:
    saturday = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    out = plan(sends(2), {A: mailbox(A)}, campaign(A, schedule=OFFICE), saturday, zero)
    assert out.reserved == ()
    assert {d.not_before for d in out.deferred} == {datetime(2026, 3, 9, 8, 0, tzinfo=UTC)}


def test_a_follow_up_keeps_to_its_thread_mailbox() -> None:
    follow_ups = [QueuedSend(uuid.UUID(int=100 + i), preferred_mailbox_id=B) for i in range(2)]
    out = plan(follow_ups, {A: mailbox(A), B: mailbox(B)}, campaign(A, B), MONDAY_NOON, zero)
    assert [r.mailbox_id for r in out.reserved] == [B, B]


def test_a_follow_up_whose_mailbox_left_the_campaign_rotates() -> None:
    follow_up = [QueuedSend(uuid.UUID(int=100), preferred_mailbox_id=B)]
    out = plan(follow_up, {A: mailbox(A)}, campaign(A), MONDAY_NOON, zero)
    assert [r.mailbox_id for r in out.reserved] == [A]


def test_a_busy_mailbox_with_a_gap_is_not_picked() -> None:
    out = plan(sends(1), {A: mailbox(A, gap=60, busy=True)}, campaign(A), MONDAY_NOON, zero)
    assert out.reserved == ()
    assert [d.not_before for d in out.deferred] == [MONDAY_NOON + BUSY_RETRY]


def test_an_unhealthy_mailbox_waits_for_its_probe_then_probes_once() -> None:
    later = MONDAY_NOON + timedelta(minutes=10)
    sick = mailbox(A, healthy=False, probe_after=later)
    assert plan(sends(1), {A: sick}, campaign(A), MONDAY_NOON, zero).deferred[0].not_before == later
    out = plan(sends(3), {A: sick}, campaign(A), later, zero)
    assert len(out.reserved) == 1 and len(out.deferred) == 2


def test_the_mailbox_daily_limit_counts_across_campaigns() -> None:
    full = MailboxState(A, Pacing(2, 0), MailboxPace(sent_today=2, day=MONDAY_NOON.date()))
    out = plan(sends(1), {A: full}, campaign(A), MONDAY_NOON, zero)
    assert out.reserved == ()
    assert out.deferred[0].not_before == datetime(2026, 3, 3, tzinfo=UTC)


def test_no_mailbox_defers() -> None:
    out = plan(sends(1), {}, campaign(A), MONDAY_NOON, zero)
    assert out.reserved == () and out.deferred[0].not_before > MONDAY_NOON


ZONES = ["Europe/Prague", "America/New_York", "UTC", "Asia/Kolkata"]
# Around the spring and autumn changes of both hemispheres' common dates.
STARTS = [
    datetime(2026, 3, 7, 20, tzinfo=UTC),
    datetime(2026, 3, 28, 20, tzinfo=UTC),
    datetime(2026, 10, 24, 20, tzinfo=UTC),
    datetime(2026, 10, 31, 20, tzinfo=UTC),
]
TIMES = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)]


@st.composite
def schedules(draw: st.DrawFn) -> Schedule | None:
    if draw(st.booleans()):
        return None
    start, end = sorted(
        draw(st.lists(st.sampled_from([*TIMES, "24:00"]), min_size=2, max_size=2, unique=True))
    )
    if start == "24:00":
        start, end = end, start
    days = draw(st.sets(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1))
    return Schedule(draw(st.sampled_from(ZONES)), frozenset(days), start, end)


@settings(max_examples=150)
@given(
    schedule=schedules(),
    start=st.sampled_from(STARTS),
    ticks=st.lists(st.integers(min_value=1, max_value=4 * 3600), min_size=1, max_size=60),
    arrivals=st.lists(st.integers(min_value=0, max_value=6), min_size=60, max_size=60),
    limits=st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=1, max_size=3),
    gaps=st.lists(st.integers(0, 3600), min_size=3, max_size=3),
    campaign_limit=st.one_of(st.none(), st.integers(1, 8)),
    seed=st.integers(0, 2**32),
)
def test_no_limit_gap_or_window_is_ever_broken(
    schedule: Schedule | None,
    start: datetime,
    ticks: list[int],
    arrivals: list[int],
    limits: list[int | None],
    gaps: list[int],
    campaign_limit: int | None,
    seed: int,
) -> None:
    draw = random.Random(seed).random
    ids = [uuid.UUID(int=i + 1) for i in range(len(limits))]
    states = {m: mailbox(m, limit=limits[i], gap=gaps[i]) for i, m in enumerate(ids)}
    state = campaign(*ids, limit=campaign_limit, schedule=schedule)
    waiting: dict[uuid.UUID, datetime] = {}
    sent_at: dict[uuid.UUID, datetime] = {}
    by_mailbox: dict[uuid.UUID, list[datetime]] = defaultdict(list)
    now, made = start, 0
    for tick, new in zip(ticks, arrivals, strict=False):
        now += timedelta(seconds=tick)
        for _ in range(new):
            made += 1
            waiting[uuid.UUID(int=10_000 + made)] = now
        due = [QueuedSend(s) for s, at in waiting.items() if at <= now]
        out = plan(due, states, state, now, draw)
        assert len(out.reserved) + len(out.deferred) == len(due)
        for reservation in out.reserved:
            assert reservation.send_id not in sent_at, "reserved twice"
            sent_at[reservation.send_id] = now
            by_mailbox[reservation.mailbox_id].append(now)
            del waiting[reservation.send_id]
        for deferral in out.deferred:
            assert deferral.not_before >= now
            waiting[deferral.send_id] = deferral.not_before
        states = {
            m: (replace_pace(s, out.mailboxes[m]) if m in out.mailboxes else s) for m, s in states.items()
        }
        state = CampaignState(state.mailbox_ids, state.daily_limit, schedule, out.campaign, out.rotation)
    for at in sent_at.values():
        assert schedule is None or schedule.is_open(at)
    zone = ZoneInfo(schedule.timezone) if schedule else UTC
    per_local_day = Counter(at.astimezone(zone).date() for at in sent_at.values())
    assert campaign_limit is None or max(per_local_day.values(), default=0) <= campaign_limit
    for i, m in enumerate(ids):
        times = by_mailbox[m]
        per_day: Counter[date] = Counter(t.date() for t in times)
        limit = limits[i]
        assert limit is None or max(per_day.values(), default=0) <= limit
        for earlier, later in itertools.pairwise(times):
            assert later - earlier >= timedelta(seconds=gaps[i])


def replace_pace(state: MailboxState, pace: MailboxPace) -> MailboxState:
    return MailboxState(state.id, state.pacing, pace, state.healthy, state.probe_after, state.busy)
