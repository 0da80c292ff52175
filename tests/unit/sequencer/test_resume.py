"""A stop a person overturned in the Unibox (`progress.resumed`), and which reason a lead stopped twice keeps
(`progress.stop_reason_after`): table-driven, and over arbitrary progress and arbitrary orders of moves no
resumed lead is given a step it was already sent, and no lead stopped for another reason resumes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import Verdict
from services.sequencer import progress as moves
from services.sequencer.progress import LeadState, Plan, Progress

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SENT_AT = T0 + timedelta(hours=2)
NOW = T0 + timedelta(days=3)  # the person overturns the reply days later
PLAN = Plan(delays=(0, 60, 120), activated_at=T0)
MAILBOX = uuid.UUID(int=7)
OTHER_STOPS = ["unsubscribed", "failed", "status replied", "status bounced", "company replied", "invalid"]


def stopped_after(sent: int, reason: str = "replied", **kw: object) -> Progress:
    """A valid lead sent `sent` steps (the last at SENT_AT), then stopped for `reason` while scheduled."""
    base = Progress(
        imported=True,
        verdict=Verdict.VALID,
        verdict_run=0,
        state=LeadState.STOPPED,
        next_step=sent + 1,
        sendable_at=T0,
        message_ids=tuple(f"<{n}@x>" for n in range(1, sent + 1)),
        thread_mailbox_id=MAILBOX if sent else None,
        stop_reason=reason,
        last_sent_at=SENT_AT if sent else None,
        stopped_from=LeadState.SCHEDULED,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def going_on(before: Progress, **kw: object) -> Progress:
    return replace(before, stop_reason=None, stopped_from=None, **kw)  # type: ignore[arg-type]


HOLD = SENT_AT + timedelta(days=5)


@pytest.mark.parametrize(
    ("name", "start", "reason", "expected"),
    [
        (
            "a reply overturned: the step after the last send, its delay after that send",
            stopped_after(1),
            "replied",
            going_on(
                stopped_after(1), state=LeadState.SCHEDULED, next_step=2, due_at=SENT_AT + timedelta(hours=1)
            ),
        ),
        (
            "a hard bounce overturned: the same",
            stopped_after(2, "bounced"),
            "bounced",
            going_on(
                stopped_after(2), state=LeadState.SCHEDULED, next_step=3, due_at=SENT_AT + timedelta(hours=2)
            ),
        ),
        (
            "an out-of-office's hold still holds it",
            stopped_after(1, not_before=HOLD),
            "replied",
            going_on(stopped_after(1, not_before=HOLD), state=LeadState.SCHEDULED, next_step=2, due_at=HOLD),
        ),
        (
            "a step handed to the mailer when the reply came is scheduled again (the mailer sends it once)",
            stopped_after(1, stopped_from=LeadState.DUE, next_step=2),
            "replied",
            going_on(
                stopped_after(1), state=LeadState.SCHEDULED, next_step=2, due_at=SENT_AT + timedelta(hours=1)
            ),
        ),
        (
            "a send whose time is not known (stopped before sequencer_0006): the delay after now",
            stopped_after(1, last_sent_at=None),
            "replied",
            going_on(
                stopped_after(1, last_sent_at=None),
                state=LeadState.SCHEDULED,
                next_step=2,
                due_at=NOW + timedelta(hours=1),
            ),
        ),
        (
            "nothing sent yet: step 1 as `settle` schedules it",
            stopped_after(0),
            "replied",
            going_on(stopped_after(0), state=LeadState.SCHEDULED, next_step=1, due_at=T0),
        ),
        (
            "nothing sent yet in a campaign never activated: waiting",
            stopped_after(0),
            "replied",
            going_on(stopped_after(0), state=LeadState.WAITING, next_step=1),
        ),
        (
            "every step sent (the last crossed the reply): completed",
            stopped_after(3),
            "replied",
            going_on(stopped_after(3), state=LeadState.COMPLETED, next_step=3),
        ),
        (
            "uncertain when the reply came: uncertain again, never sent again automatically",
            stopped_after(1, stopped_from=LeadState.UNCERTAIN, next_step=2),
            "replied",
            going_on(stopped_after(1, next_step=2), state=LeadState.UNCERTAIN),
        ),
        (
            "uncertain, but its EmailSent came meanwhile: the step after it",
            stopped_after(2, stopped_from=LeadState.UNCERTAIN, next_step=2),
            "replied",
            going_on(
                stopped_after(2), state=LeadState.SCHEDULED, next_step=3, due_at=SENT_AT + timedelta(hours=2)
            ),
        ),
        (
            "an invalid verdict keeps it stopped, by the verdict now",
            stopped_after(1, verdict=Verdict.INVALID),
            "replied",
            stopped_after(1, verdict=Verdict.INVALID, stop_reason="invalid"),
        ),
        (
            "the bounce overturned does not resume a lead the reply stopped",
            stopped_after(1),
            "bounced",
            stopped_after(1),
        ),
        (
            "a reply and a bounce together: overturning one does not resume it",
            stopped_after(1, "replied and bounced"),
            "replied",
            stopped_after(1, "replied and bounced"),
        ),
        *(
            (
                f"stopped for {other!r}: stays stopped",
                stopped_after(1, other),
                "replied",
                stopped_after(1, other),
            )
            for other in OTHER_STOPS
        ),
        (
            "a lead going on is left as it is",
            going_on(stopped_after(1), state=LeadState.SCHEDULED, due_at=SENT_AT),
            "replied",
            going_on(stopped_after(1), state=LeadState.SCHEDULED, due_at=SENT_AT),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_resumed(name: str, start: Progress, reason: str, expected: Progress) -> None:
    plan = replace(PLAN, activated_at=None) if "never activated" in name else PLAN
    assert moves.resumed(start, reason, NOW, plan) == expected


def test_a_campaign_without_steps_resumes_nothing() -> None:
    assert moves.resumed(stopped_after(1), "replied", NOW, Plan(delays=(), activated_at=T0)) == stopped_after(
        1
    )


@pytest.mark.parametrize(
    ("current", "reason", "kept"),
    [
        ("invalid", "replied", "replied"),
        ("replied", "invalid", "replied"),
        ("replied", "bounced", "replied and bounced"),
        ("bounced", "replied", "replied and bounced"),
        ("replied and bounced", "replied", "replied and bounced"),
        ("replied", "unsubscribed", "unsubscribed"),
        ("bounced", "company replied", "company replied"),
        ("replied and bounced", "status replied", "status replied"),
        ("unsubscribed", "replied", "unsubscribed"),
        ("company replied", "replied", "company replied"),
        ("failed", "unsubscribed", "failed"),
        ("replied", "replied", "replied"),
    ],
)
def test_which_reason_a_lead_stopped_again_keeps(current: str, reason: str, kept: str) -> None:
    assert moves.stop_reason_after(current, reason) == kept
    again = moves.stopped(stopped_after(1, current), reason)
    assert (again.state, again.stop_reason) == (LeadState.STOPPED, kept)


WITHDRAWABLE = ["invalid", "replied", "bounced", "replied and bounced"]
REASONS = [*WITHDRAWABLE, "unsubscribed", "failed", "status replied", "company replied"]


@given(st.sampled_from(REASONS), st.sampled_from(REASONS))
def test_two_stops_keep_the_same_reason_whichever_came_first_when_one_may_be_withdrawn(
    a: str, b: str
) -> None:
    if a in WITHDRAWABLE or b in WITHDRAWABLE:
        assert moves.stop_reason_after(a, b) == moves.stop_reason_after(b, a)


@st.composite
def any_progress(draw: st.DrawFn) -> Progress:
    """Any progress, including ones no sequence of events produces."""
    sent = draw(st.integers(0, 4))
    return Progress(
        imported=draw(st.booleans()),
        verdict=draw(st.none() | st.sampled_from(Verdict)),
        state=draw(st.sampled_from(LeadState)),
        next_step=draw(st.integers(1, 5)),
        due_at=draw(st.none() | st.just(SENT_AT)),
        sendable_at=draw(st.none() | st.just(T0)),
        message_ids=tuple(f"<{n}@x>" for n in range(1, sent + 1)),
        stop_reason=draw(st.none() | st.sampled_from(REASONS)),
        not_before=draw(st.none() | st.sampled_from([T0, HOLD])),
        last_sent_at=draw(st.none() | st.just(SENT_AT)),
        stopped_from=draw(st.none() | st.sampled_from(LeadState)),
    )


@given(any_progress(), st.sampled_from(["replied", "bounced"]))
def test_a_resumed_lead_never_gets_a_step_it_was_sent_and_only_its_own_stop_is_undone(
    progress: Progress, reason: str
) -> None:
    after = moves.resumed(progress, reason, NOW, PLAN)
    if after == progress:
        return
    assert progress.state is LeadState.STOPPED and progress.stop_reason == reason
    assert after.message_ids == progress.message_ids
    if after.state is LeadState.STOPPED:  # kept stopped by its invalid verdict
        assert (after.verdict, after.stop_reason) == (Verdict.INVALID, "invalid")
        return
    assert after.stop_reason is None
    if after.state is LeadState.COMPLETED:
        assert len(after.message_ids) >= PLAN.total_steps
    else:
        assert after.next_step > len(after.message_ids)
    if after.due_at is not None and progress.not_before is not None:
        assert after.due_at >= progress.not_before
    assert moves.resumed(after, reason, NOW, PLAN) == after  # a redelivery changes nothing more


@given(any_progress(), st.sampled_from(["replied", "bounced"]))
def test_a_lead_stopped_for_another_reason_never_resumes(progress: Progress, reason: str) -> None:
    drawn = progress.stop_reason
    other = drawn if drawn is not None and drawn != reason else "unsubscribed"
    stopped = replace(progress, state=LeadState.STOPPED, stop_reason=other)
    assert moves.resumed(stopped, reason, NOW, PLAN) == stopped


# A lead's life with stops, resumes and late sends in any order: what the mailer is handed is never a step
# it was sent.
SCRIPT_MOVES: dict[str, Callable[[Progress], Progress]] = {
    "import": lambda p: moves.imported(p, T0, PLAN),
    "valid": lambda p: moves.validated(p, Verdict.VALID, 0, T0, PLAN),
    "invalid": lambda p: moves.validated(p, Verdict.INVALID, 1, T0, PLAN),
    "uncertain": lambda p: moves.uncertain(p, p.next_step),
    "reply": lambda p: moves.stopped(p, "replied"),
    "bounce": lambda p: moves.stopped(p, "bounced"),
    "unsubscribe": lambda p: moves.stopped(p, "unsubscribed"),
    "company": lambda p: moves.stopped(p, "company replied"),
    "undo reply": lambda p: moves.resumed(p, "replied", NOW, PLAN),
    "undo bounce": lambda p: moves.resumed(p, "bounced", NOW, PLAN),
}


@given(st.lists(st.sampled_from([*SCRIPT_MOVES, "emit", "send"]), max_size=40))
def test_no_step_is_handed_to_the_mailer_after_it_was_sent(script: list[str]) -> None:
    progress, handed, sent = Progress(), [], set()
    stopped_for_good = False
    for name in script:
        if name == "emit":
            after = moves.emitted(progress, ())
            if after.state is LeadState.DUE and progress.state is LeadState.SCHEDULED:
                assert after.next_step not in sent
                handed.append(after.next_step)
        elif name == "send":  # the mailer sends what it was handed last, even to a stopped lead
            if not handed:
                continue
            step = handed[-1]
            after = moves.sent(progress, step, f"<{step}@x>", MAILBOX, SENT_AT, PLAN).progress
            sent.add(step)
        else:
            after = SCRIPT_MOVES[name](progress)
        if progress.state is LeadState.STOPPED and progress.stop_reason in (
            "unsubscribed",
            "company replied",
        ):
            stopped_for_good = True
        if stopped_for_good:
            assert after.state is LeadState.STOPPED
        if after.state is LeadState.SCHEDULED:
            assert after.next_step > len(after.message_ids)
        progress = after
