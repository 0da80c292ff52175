"""Mailbox and campaign pacing: a sender that sends whenever `decide` allows never exceeds a daily limit nor
sends inside the gap; every refusal names the exact instant it lifts; rotation is round robin."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.mailer.pacing import (
    Allowed,
    CampaignPace,
    Decision,
    LimitReached,
    MailboxPace,
    NotBefore,
    Pacing,
    Picked,
    after_campaign_send,
    after_send,
    decide,
    decide_campaign,
    pick,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
MIDNIGHT = datetime(2026, 3, 3, tzinfo=UTC)
PRAGUE = ZoneInfo("Europe/Prague")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
GAP = timedelta(seconds=150)


def pace(sent: int, day: date = TODAY, last: datetime | None = None, gap: timedelta = GAP) -> MailboxPace:
    return MailboxPace(sent, day, last, gap)


@pytest.mark.parametrize(
    ("state", "pacing", "now", "decision"),
    [
        pytest.param(MailboxPace(), Pacing(), NOW, Allowed(), id="a fresh mailbox may send"),
        pytest.param(pace(29, last=NOW - GAP), Pacing(30), NOW, Allowed(), id="under the limit, gap passed"),
        pytest.param(
            pace(30, last=NOW - GAP), Pacing(30), NOW, LimitReached(MIDNIGHT), id="the limit until 00:00 UTC"
        ),
        pytest.param(
            pace(30, last=NOW - GAP), Pacing(30), MIDNIGHT, Allowed(), id="a new UTC day starts again"
        ),
        pytest.param(
            pace(30, TODAY - timedelta(days=3)), Pacing(30), NOW, Allowed(), id="an old day's count is gone"
        ),
        pytest.param(pace(3, last=NOW), Pacing(30), NOW, NotBefore(NOW + GAP), id="inside the gap"),
        pytest.param(
            pace(3, last=NOW),
            Pacing(30),
            NOW + GAP - timedelta(microseconds=1),
            NotBefore(NOW + GAP),
            id="just inside",
        ),
        pytest.param(pace(3, last=NOW), Pacing(30), NOW + GAP, Allowed(), id="the gap's end is allowed"),
        pytest.param(
            pace(30, last=NOW), Pacing(30), NOW, LimitReached(MIDNIGHT), id="the limit before the gap"
        ),
        pytest.param(pace(0), Pacing(0), NOW, LimitReached(MIDNIGHT), id="a zero limit never sends"),
        pytest.param(pace(10**6, last=NOW - GAP), Pacing(None), NOW, Allowed(), id="no limit"),
        pytest.param(
            pace(5, TODAY + timedelta(days=1), NOW - GAP),
            Pacing(5),
            NOW,
            LimitReached(MIDNIGHT + timedelta(days=1)),
            id="a clock that went back keeps the later day",
        ),
    ],
)
def test_a_mailbox_decision(state: MailboxPace, pacing: Pacing, now: datetime, decision: Decision) -> None:
    assert decide(state, pacing, now) == decision


@pytest.mark.parametrize(
    ("state", "now", "rand", "after"),
    [
        pytest.param(
            MailboxPace(), NOW, 0.0, pace(1, last=NOW, gap=timedelta(seconds=120)), id="first send, no extra"
        ),
        pytest.param(pace(4), NOW, 0.5, pace(5, last=NOW, gap=timedelta(seconds=150)), id="a quarter extra"),
        pytest.param(
            pace(4), NOW, 0.999, pace(5, last=NOW, gap=timedelta(seconds=120 * 1.4995)), id="up to half extra"
        ),
        pytest.param(
            pace(30, TODAY - timedelta(days=1)),
            NOW,
            0.0,
            pace(1, last=NOW, gap=timedelta(seconds=120)),
            id="new day",
        ),
    ],
)
def test_a_send_counts_and_draws_the_next_gap(
    state: MailboxPace, now: datetime, rand: float, after: MailboxPace
) -> None:
    assert after_send(state, Pacing(30, 120), now, rand) == after


@pytest.mark.parametrize("rand", [-0.1, 1.0, 2.0])
def test_a_draw_outside_0_1_is_refused(rand: float) -> None:
    with pytest.raises(ValueError, match="rand"):
        after_send(MailboxPace(), Pacing(), NOW, rand)


@pytest.mark.parametrize("pacing", [(-1, 120), (30, -1)])
def test_negative_settings_are_refused(pacing: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="negative"):
        Pacing(*pacing)


@pytest.mark.parametrize(
    ("state", "limit", "zone", "now", "decision"),
    [
        pytest.param(CampaignPace(99, TODAY), 100, PRAGUE, NOW, Allowed(), id="under"),
        pytest.param(
            CampaignPace(100, TODAY),
            100,
            PRAGUE,
            NOW,
            LimitReached(datetime(2026, 3, 2, 23, tzinfo=UTC)),
            id="until prague's midnight",
        ),
        pytest.param(
            CampaignPace(100, TODAY),
            100,
            PRAGUE,
            datetime(2026, 3, 2, 23, tzinfo=UTC),
            Allowed(),
            id="prague's new day",
        ),
        pytest.param(
            CampaignPace(100, date(2026, 3, 29)),
            100,
            PRAGUE,
            datetime(2026, 3, 29, 12, tzinfo=UTC),
            LimitReached(datetime(2026, 3, 29, 22, tzinfo=UTC)),
            id="a 23-hour day ends at summer time midnight",
        ),
        pytest.param(
            CampaignPace(100, date(2026, 3, 2)),
            100,
            LOS_ANGELES,
            datetime(2026, 3, 3, 0, 30, tzinfo=UTC),
            LimitReached(datetime(2026, 3, 3, 8, tzinfo=UTC)),
            id="los angeles' day spans the UTC midnight",
        ),
        pytest.param(
            CampaignPace(100, date(2026, 9, 5)),
            100,
            ZoneInfo("America/Santiago"),
            datetime(2026, 9, 5, 20, tzinfo=UTC),
            LimitReached(datetime(2026, 9, 6, 4, tzinfo=UTC)),
            id="a midnight that does not exist: the day starts when the clock skips it",
        ),
        pytest.param(CampaignPace(10**6, TODAY), None, PRAGUE, NOW, Allowed(), id="no campaign limit"),
    ],
)
def test_a_campaign_decision(
    state: CampaignPace, limit: int | None, zone: ZoneInfo, now: datetime, decision: Decision
) -> None:
    assert decide_campaign(state, limit, zone, now) == decision


def test_a_campaign_send_counts_in_its_local_day() -> None:
    late_evening_utc = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # already 3 March in Prague
    assert after_campaign_send(CampaignPace(7, TODAY), PRAGUE, late_evening_utc) == CampaignPace(
        1, date(2026, 3, 3)
    )
    assert after_campaign_send(CampaignPace(7, TODAY), PRAGUE, NOW) == CampaignPace(8, TODAY)


FREE, BUSY, FULL = MailboxPace(), pace(1, last=NOW), pace(30)


@pytest.mark.parametrize(
    ("paces", "rotation", "answer"),
    [
        pytest.param([FREE, FREE, FREE], 0, Picked("a", 1), id="from the start"),
        pytest.param([FREE, FREE, FREE], 2, Picked("c", 0), id="wraps around"),
        pytest.param([FREE, FREE, FREE], 7, Picked("b", 2), id="any rotation index"),
        pytest.param([FREE, BUSY, FULL], 1, Picked("a", 1), id="skips the busy and the full"),
        pytest.param([BUSY, FULL, BUSY], 0, NotBefore(NOW + GAP), id="none: the earliest gap's end"),
        pytest.param([FULL, FULL], 0, NotBefore(MIDNIGHT), id="none: the next day"),
    ],
)
def test_rotation_picks_round_robin(
    paces: list[MailboxPace], rotation: int, answer: Picked[str] | NotBefore
) -> None:
    mailboxes = [(name, p, Pacing(30)) for name, p in zip("abc", paces, strict=False)]
    assert pick(mailboxes, rotation, NOW) == answer


def test_rotation_needs_a_mailbox() -> None:
    with pytest.raises(ValueError, match="no mailbox"):
        pick([], 0, NOW)


pacings = st.builds(Pacing, st.none() | st.integers(0, 6), st.integers(0, 4 * 3600))
ticks = st.lists(st.integers(0, 6 * 3600 * 1000), min_size=1, max_size=120)  # milliseconds between ticks
draws = st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=10)
START = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))


def assert_exact(state: MailboxPace, pacing: Pacing, now: datetime) -> None:
    """A refusal lifts exactly at the time it names: refused just before, not for that reason at it."""
    decision = decide(state, pacing, now)
    match decision:
        case NotBefore(time=ready):
            assert decide(state, pacing, ready - timedelta(microseconds=1)) == decision
            assert not isinstance(decide(state, pacing, ready), NotBefore)
        case LimitReached(until=until):
            assert decide(state, pacing, until - timedelta(microseconds=1)) == decision
            assert decide(state, pacing, until) != decision  # a new day (a zero limit refuses it too)


@settings(max_examples=300, deadline=None)
@given(pacing=pacings, start=START, gaps=ticks, rands=draws)
def test_a_sender_that_obeys_decide_keeps_the_limit_and_the_gap(
    pacing: Pacing, start: datetime, gaps: list[int], rands: list[float]
) -> None:
    state, now, sent = MailboxPace(), start, list[datetime]()
    for n, gap in enumerate(gaps):
        now += timedelta(milliseconds=gap)
        assert_exact(state, pacing, now)
        if isinstance(decide(state, pacing, now), Allowed):
            state = after_send(state, pacing, now, rands[n % len(rands)])
            sent.append(now)
    if pacing.daily_limit is not None:
        assert max(Counter(t.date() for t in sent).values(), default=0) <= pacing.daily_limit
    assert all(b - a >= timedelta(seconds=pacing.min_gap_seconds) for a, b in pairwise(sent))


@settings(max_examples=200, deadline=None)
@given(start=START, gaps=ticks, rands=draws, limit=st.none() | st.integers(0, 6))
def test_a_campaign_that_obeys_decide_keeps_its_local_daily_limit(
    start: datetime, gaps: list[int], rands: list[float], limit: int | None
) -> None:
    state, now, sent = CampaignPace(), start, list[datetime]()
    for gap in gaps:
        now += timedelta(milliseconds=gap)
        decision = decide_campaign(state, limit, PRAGUE, now)
        if isinstance(decision, LimitReached):
            assert (
                decide_campaign(state, limit, PRAGUE, decision.until - timedelta(microseconds=1)) == decision
            )
            after = decide_campaign(state, limit, PRAGUE, decision.until)
            assert after == Allowed() if limit else after != decision  # a zero limit refuses the new day too
        else:
            state = after_campaign_send(state, PRAGUE, now)
            sent.append(now)
    if limit is not None:
        assert max(Counter(t.astimezone(PRAGUE).date() for t in sent).values(), default=0) <= limit


@settings(max_examples=200, deadline=None)
@given(
    settings_=st.lists(pacings, min_size=1, max_size=4),
    start=START,
    gaps=ticks,
    rands=draws,
)
def test_rotation_keeps_every_mailbox_within_its_limits_and_waits_no_longer_than_needed(
    settings_: list[Pacing], start: datetime, gaps: list[int], rands: list[float]
) -> None:
    paces = [MailboxPace() for _ in settings_]
    sent: list[list[datetime]] = [[] for _ in settings_]
    rotation, now = 0, start
    for n, gap in enumerate(gaps):
        now += timedelta(milliseconds=gap)
        answer = pick([(i, paces[i], settings_[i]) for i in range(len(paces))], rotation, now)
        allowed = [i for i in range(len(paces)) if decide(paces[i], settings_[i], now) == Allowed()]
        match answer:
            case Picked(mailbox=i, next_rotation=following):
                in_turn = [(rotation + k) % len(paces) for k in range(len(paces))]
                assert i == next(j for j in in_turn if j in allowed)
                assert following == (i + 1) % len(paces)
                rotation = following
                paces[i] = after_send(paces[i], settings_[i], now, rands[n % len(rands)])
                sent[i].append(now)
            case NotBefore(time=ready):
                assert not allowed
                assert ready > now
                assert all(
                    decide(p, s, ready - timedelta(microseconds=1)) != Allowed()
                    for p, s in zip(paces, settings_, strict=True)
                )
    for times, pacing in zip(sent, settings_, strict=True):
        if pacing.daily_limit is not None:
            assert max(Counter(t.date() for t in times).values(), default=0) <= pacing.daily_limit
        assert all(b - a >= timedelta(seconds=pacing.min_gap_seconds) for a, b in pairwise(times))
