"""An out-of-office's return date holds a lead (`progress.auto_replied`): table-driven for each state and
each kind of return date, and over arbitrary orders of sends, retries and auto-replies no step is ever
scheduled before a hold, and the same auto-replies in any order (or delivered again) end the same way."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import Verdict
from services.sequencer import progress as moves
from services.sequencer.progress import LeadState, Plan, Progress

PRAGUE = ZoneInfo("Europe/Prague")
# Monday 2 March 2026, 09:00 UTC (10:00 in Prague): the auto-reply's time.
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PLAN = Plan(delays=(0, 60, 120), activated_at=NOW - timedelta(days=7), zone=PRAGUE)
MAILBOX = uuid.UUID(int=7)
# Back on Wednesday 4 March: nothing before Thursday 00:00 in Prague, which is 23:00 UTC on Wednesday.
BACK = date(2026, 3, 4)
HOLD = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)


def at(
    state: LeadState, step: int = 2, due: datetime | None = NOW + timedelta(hours=1), **kw: object
) -> Progress:
    base = Progress(
        imported=True,
        verdict=Verdict.VALID,
        verdict_run=0,
        state=state,
        next_step=step,
        due_at=due,
        sendable_at=NOW - timedelta(days=7),
        message_ids=tuple(f"<{n}@x>" for n in range(1, step)),
        thread_mailbox_id=MAILBOX if step > 1 else None,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("return_date", "zone", "hold"),
    [
        (BACK, PRAGUE, HOLD),
        (BACK, UTC, datetime(2026, 3, 5, 0, 0, tzinfo=UTC)),
        (BACK, ZoneInfo("Asia/Tokyo"), datetime(2026, 3, 4, 15, 0, tzinfo=UTC)),
        # Summer time in Prague: its day starts at 22:00 UTC.
        (date(2026, 7, 1), PRAGUE, datetime(2026, 7, 1, 22, 0, tzinfo=UTC)),
        # New York moves its clocks on Sunday 8 March 2026, at 02:00: the day still starts at 00:00 EST.
        (date(2026, 3, 7), ZoneInfo("America/New_York"), datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
        (date(2026, 3, 8), ZoneInfo("America/New_York"), datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
        # Nonsense from a classifier must not crash the consumer: the last day there is.
        (date.max, UTC, datetime(9999, 12, 31, tzinfo=UTC)),
    ],
    ids=str,
)
def test_the_hold_starts_the_day_after_the_return_date_in_the_campaigns_zone(
    return_date: date, zone: ZoneInfo, hold: datetime
) -> None:
    assert moves.return_hold(return_date, zone) == hold


@pytest.mark.parametrize(
    ("name", "start", "return_date", "expected"),
    [
        (
            "a step due before the return is pushed to the day after it",
            at(LeadState.SCHEDULED),
            BACK,
            at(LeadState.SCHEDULED, due=HOLD, not_before=HOLD),
        ),
        (
            "a step overdue (window closed, limit spent) is pushed too",
            at(LeadState.SCHEDULED, due=NOW - timedelta(days=2)),
            BACK,
            at(LeadState.SCHEDULED, due=HOLD, not_before=HOLD),
        ),
        (
            "a step due after the return keeps its time",
            at(LeadState.SCHEDULED, due=HOLD + timedelta(days=3)),
            BACK,
            at(LeadState.SCHEDULED, due=HOLD + timedelta(days=3), not_before=HOLD),
        ),
        (
            "back today: tomorrow",
            at(LeadState.SCHEDULED),
            date(2026, 3, 2),
            at(
                LeadState.SCHEDULED,
                due=datetime(2026, 3, 2, 23, 0, tzinfo=UTC),
                not_before=datetime(2026, 3, 2, 23, 0, tzinfo=UTC),
            ),
        ),
        (
            "back yesterday: a past return changes nothing",
            at(LeadState.SCHEDULED),
            date(2026, 3, 1),
            at(LeadState.SCHEDULED),
        ),
        (
            "a past return changes nothing, even for an overdue step",
            at(LeadState.SCHEDULED, due=NOW - timedelta(days=5)),
            date(2026, 2, 20),
            at(LeadState.SCHEDULED, due=NOW - timedelta(days=5)),
        ),
        ("no return date changes nothing", at(LeadState.SCHEDULED), None, at(LeadState.SCHEDULED)),
        (
            "a step handed to the mailer goes out; the hold waits for the next",
            at(LeadState.DUE, due=NOW - timedelta(minutes=5)),
            BACK,
            at(LeadState.DUE, due=NOW - timedelta(minutes=5), not_before=HOLD),
        ),
        (
            "a waiting lead keeps the hold for when it is scheduled",
            at(LeadState.WAITING, step=1, due=None),
            BACK,
            at(LeadState.WAITING, step=1, due=None, not_before=HOLD),
        ),
        (
            "an uncertain send keeps the hold for a late EmailSent",
            at(LeadState.UNCERTAIN),
            BACK,
            at(LeadState.UNCERTAIN, not_before=HOLD),
        ),
        (
            "a stopped lead stays as it is",
            at(LeadState.STOPPED, due=None, stop_reason="replied"),
            BACK,
            at(LeadState.STOPPED, due=None, stop_reason="replied"),
        ),
        (
            "a completed lead stays as it is",
            at(LeadState.COMPLETED, step=3, due=None),
            BACK,
            at(LeadState.COMPLETED, step=3, due=None),
        ),
        (
            "an earlier return than the one held changes nothing",
            at(LeadState.SCHEDULED, due=HOLD + timedelta(days=7), not_before=HOLD + timedelta(days=7)),
            BACK,
            at(LeadState.SCHEDULED, due=HOLD + timedelta(days=7), not_before=HOLD + timedelta(days=7)),
        ),
        (
            "a later return than the one held lengthens it",
            at(LeadState.SCHEDULED, due=HOLD - timedelta(days=1), not_before=HOLD - timedelta(days=1)),
            BACK,
            at(LeadState.SCHEDULED, due=HOLD, not_before=HOLD),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_an_auto_reply(name: str, start: Progress, return_date: date | None, expected: Progress) -> None:
    after = moves.auto_replied(start, return_date, NOW, PLAN)
    assert after == expected
    assert moves.auto_replied(after, return_date, NOW, PLAN) == after  # delivered again: no change


@pytest.mark.parametrize(
    ("name", "start", "move", "due"),
    [
        (
            "the send the auto-reply overtook: the next step waits for the hold",
            at(LeadState.DUE, step=1, not_before=HOLD),
            lambda p: moves.sent(p, 1, "<1@x>", MAILBOX, NOW - timedelta(hours=2), PLAN).progress,
            HOLD,
        ),
        (
            "a send whose next step falls after the hold keeps its delay",
            at(LeadState.DUE, step=1, not_before=HOLD),
            lambda p: moves.sent(p, 1, "<1@x>", MAILBOX, HOLD, PLAN).progress,
            HOLD + timedelta(minutes=60),
        ),
        (
            "a waiting lead scheduled while held",
            at(LeadState.WAITING, step=1, due=None, sendable_at=None, not_before=HOLD),
            lambda p: moves.settle(p, NOW, PLAN),
            HOLD,
        ),
        (
            "a not-sendable lead tried again while held",
            at(LeadState.NOT_SENDABLE, missing=("x",), not_before=HOLD),
            lambda p: moves.reconsidered(p, NOW),
            HOLD,
        ),
        (
            "a hold that ended holds nothing",
            at(LeadState.DUE, step=1, not_before=NOW - timedelta(days=1)),
            lambda p: moves.sent(p, 1, "<1@x>", MAILBOX, NOW, PLAN).progress,
            NOW + timedelta(minutes=60),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_step_scheduled_while_held(
    name: str, start: Progress, move: Callable[[Progress], Progress], due: datetime
) -> None:
    after = move(start)
    assert (after.state, after.due_at) == (LeadState.SCHEDULED, due)
    assert moves.next_send(after, PLAN) == (after.next_step, due)


ZONES = st.sampled_from(
    [UTC, PRAGUE, ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Santiago"), ZoneInfo("Pacific/Kiritimati")]
)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)), ZONES)
def test_the_hold_is_the_first_instant_of_the_day_after(return_date: date, zone: ZoneInfo) -> None:
    hold = moves.return_hold(return_date, zone)
    # Santiago's clocks have jumped from 24:00 to 01:00: the day after then starts at 01:00, still its own.
    assert hold.astimezone(zone).date() == return_date + timedelta(days=1)
    assert (hold - timedelta(microseconds=1)).astimezone(zone).date() <= return_date


INSTANTS = st.integers(min_value=-10 * 24 * 60, max_value=10 * 24 * 60).map(
    lambda m: NOW + timedelta(minutes=m)
)
RETURNS = st.one_of(st.none(), st.dates(min_value=date(2026, 2, 20), max_value=date(2026, 3, 12)))
STATES = st.sampled_from(list(LeadState))


@st.composite
def leads(draw: st.DrawFn) -> Progress:
    """A lead in any state, its due time never before its hold (what every write keeps)."""
    state = draw(STATES)
    hold = draw(st.one_of(st.none(), INSTANTS))
    due = draw(INSTANTS)
    if hold is not None and state is LeadState.SCHEDULED:
        due = max(due, hold)
    return at(state, due=None if state is LeadState.WAITING else due, not_before=hold)


@given(leads(), RETURNS, INSTANTS)
def test_an_auto_reply_never_stops_nor_moves_a_step_earlier(
    lead: Progress, back: date | None, now: datetime
) -> None:
    after = moves.auto_replied(lead, back, now, PLAN)
    assert (after.state, after.next_step, after.message_ids) == (lead.state, lead.next_step, lead.message_ids)
    hold = None if back is None else moves.return_hold(back, PRAGUE)
    if hold is None or hold <= now or lead.state in moves.FINAL:
        assert after == lead
        return
    if lead.state is LeadState.SCHEDULED:
        assert lead.due_at is not None
        assert after.due_at == max(lead.due_at, hold)
    else:
        assert after.due_at == lead.due_at
    assert after.not_before == max(hold, lead.not_before or hold)


@given(leads(), st.lists(st.tuples(RETURNS, INSTANTS), min_size=1, max_size=4), st.randoms())
def test_the_same_auto_replies_in_any_order_or_again_end_the_same_way(
    lead: Progress, replies: list[tuple[date | None, datetime]], rand: object
) -> None:
    shuffled = list(replies)
    rand.shuffle(shuffled)  # type: ignore[attr-defined]
    ends = []
    for order in (replies, shuffled, replies + shuffled):
        state = lead
        for back, now in order:
            state = moves.auto_replied(state, back, now, PLAN)
        ends.append(state)
    assert ends[0] == ends[1] == ends[2]


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("auto-reply"), RETURNS, INSTANTS),
            st.tuples(
                st.sampled_from(["import", "valid", "emit", "missing", "uncertain", "reconsider"]),
                st.none(),
                INSTANTS,
            ),
            st.tuples(st.just("send"), st.none(), INSTANTS),
        ),
        max_size=25,
    )
)
def test_no_step_is_ever_scheduled_before_a_hold(script: list[tuple[str, date | None, datetime]]) -> None:
    """Whatever comes when (sends overtaken by the auto-reply, late sends, retries), a scheduled step is
    never due before the lead's hold, and a hold never shortens."""
    state = moves.NEW
    for name, back, now in script:
        match name:
            case "auto-reply":
                after = moves.auto_replied(state, back, now, PLAN)
            case "import":
                after = moves.imported(state, now, PLAN)
            case "valid":
                after = moves.validated(state, Verdict.VALID, 0, now, PLAN)
            case "emit":
                after = moves.emitted(state, ())
            case "missing":
                after = moves.emitted(state, ("x",))
            case "uncertain":
                after = moves.uncertain(state, state.next_step)
            case "reconsider":
                after = moves.reconsidered(state, now)
            case _:
                step = state.next_step
                after = moves.sent(state, step, f"<{step}@x>", MAILBOX, now, PLAN).progress
        if state.not_before is not None:
            assert after.not_before is not None and after.not_before >= state.not_before
        if after.state is LeadState.SCHEDULED and after.not_before is not None:
            assert after.due_at is not None and after.due_at >= after.not_before
        state = after
