"""A lead's progress through its campaign: each transition table-driven, and over arbitrary orders of the
same events the end state is the same and never moves back from stopped or completed."""

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
from services.sequencer.progress import NEW, LeadState, Plan, Progress

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTIVATED = T0 + timedelta(hours=1)
ACTIVE = Plan(delays=(10, 60, 120), activated_at=ACTIVATED)
DRAFT = Plan(delays=(10, 60, 120), activated_at=None)
MAILBOX = uuid.UUID(int=7)


def scheduled(step: int = 1, due: datetime = ACTIVATED + timedelta(minutes=10), **kw: object) -> Progress:
    base = Progress(
        imported=True,
        verdict=Verdict.VALID,
        verdict_run=0,
        state=LeadState.SCHEDULED,
        next_step=step,
        due_at=due,
    )
    return replace(base, sendable_at=T0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("verdict", "plan", "is_sendable"),
    [
        (Verdict.VALID, ACTIVE, True),
        (Verdict.UNKNOWN, ACTIVE, True),
        (Verdict.UNKNOWN, replace(ACTIVE, send_to_unknown=False), False),
        (Verdict.INVALID, ACTIVE, False),
        (Verdict.INVALID, replace(ACTIVE, wait_for_validation=False), False),
        (None, ACTIVE, False),
        (None, replace(ACTIVE, wait_for_validation=False), True),
    ],
)
def test_who_is_sendable(verdict: Verdict | None, plan: Plan, is_sendable: bool) -> None:
    assert moves.sendable(Progress(imported=True, verdict=verdict), plan) is is_sendable
    assert moves.sendable(Progress(imported=False, verdict=verdict), plan) is False


@pytest.mark.parametrize(
    ("name", "start", "move", "expected"),
    [
        (
            "imported pending waits for the verdict",
            NEW,
            lambda p: moves.imported(p, T0, ACTIVE),
            Progress(imported=True),
        ),
        (
            "imported without waiting for validation: due its delay after the activation",
            NEW,
            lambda p: moves.imported(p, T0, replace(ACTIVE, wait_for_validation=False)),
            Progress(
                imported=True,
                state=LeadState.SCHEDULED,
                sendable_at=T0,
                due_at=ACTIVATED + timedelta(minutes=10),
            ),
        ),
        (
            "a valid verdict after the activation: due its delay after the verdict",
            Progress(imported=True),
            lambda p: moves.validated(p, Verdict.VALID, 0, ACTIVATED + timedelta(hours=2), ACTIVE),
            Progress(
                imported=True,
                verdict=Verdict.VALID,
                verdict_run=0,
                state=LeadState.SCHEDULED,
                sendable_at=ACTIVATED + timedelta(hours=2),
                due_at=ACTIVATED + timedelta(hours=2, minutes=10),
            ),
        ),
        (
            "a draft campaign keeps a sendable lead waiting, sendable since the verdict",
            Progress(imported=True),
            lambda p: moves.validated(p, Verdict.VALID, 0, T0, DRAFT),
            Progress(imported=True, verdict=Verdict.VALID, verdict_run=0, sendable_at=T0),
        ),
        (
            "a verdict before the import waits for the import",
            NEW,
            lambda p: moves.validated(p, Verdict.VALID, 0, T0, ACTIVE),
            Progress(verdict=Verdict.VALID, verdict_run=0),
        ),
        (
            "invalid stops",
            Progress(imported=True),
            lambda p: moves.validated(p, Verdict.INVALID, 0, T0, ACTIVE),
            Progress(
                imported=True,
                verdict=Verdict.INVALID,
                verdict_run=0,
                state=LeadState.STOPPED,
                stop_reason="invalid",
                stopped_from=LeadState.WAITING,
            ),
        ),
        (
            "an older run's verdict changes nothing",
            Progress(imported=True, verdict=Verdict.VALID, verdict_run=2),
            lambda p: moves.validated(p, Verdict.INVALID, 1, T0, ACTIVE),
            Progress(imported=True, verdict=Verdict.VALID, verdict_run=2),
        ),
        (
            "the emission pass marks a rendered step due",
            scheduled(),
            lambda p: moves.emitted(p, ()),
            replace(scheduled(), state=LeadState.DUE),
        ),
        (
            "a lead missing a variable is not sendable",
            scheduled(),
            lambda p: moves.emitted(p, ("first_name",)),
            replace(scheduled(), state=LeadState.NOT_SENDABLE, missing=("first_name",)),
        ),
        (
            "a changed sequence tries a not-sendable lead again, now",
            replace(scheduled(), state=LeadState.NOT_SENDABLE, missing=("x",), due_at=T0 + timedelta(days=9)),
            lambda p: moves.reconsidered(p, T0),
            replace(scheduled(), due_at=T0),
        ),
        (
            "uncertain only for the step that is due",
            replace(scheduled(step=2), state=LeadState.DUE),
            lambda p: moves.uncertain(p, 2),
            replace(scheduled(step=2), state=LeadState.UNCERTAIN),
        ),
        (
            "an uncertain send of another step changes nothing",
            replace(scheduled(step=2), state=LeadState.DUE),
            lambda p: moves.uncertain(p, 1),
            replace(scheduled(step=2), state=LeadState.DUE),
        ),
        (
            "a stop ends a due lead",
            replace(scheduled(), state=LeadState.DUE),
            lambda p: moves.stopped(p, "replied"),
            replace(
                scheduled(),
                state=LeadState.STOPPED,
                stop_reason="replied",
                due_at=None,
                stopped_from=LeadState.DUE,
            ),
        ),
        (
            "a completed lead stays completed",
            replace(scheduled(step=3), state=LeadState.COMPLETED),
            lambda p: moves.stopped(p, "replied"),
            replace(scheduled(step=3), state=LeadState.COMPLETED),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_transitions(
    name: str, start: Progress, move: Callable[[Progress], Progress], expected: Progress
) -> None:
    assert move(start) == expected


def test_a_send_schedules_the_next_step_its_delay_after_the_send_and_the_last_completes() -> None:
    sent_at = T0 + timedelta(days=1)
    first = moves.sent(replace(scheduled(), state=LeadState.DUE), 1, "<a@x>", MAILBOX, sent_at, ACTIVE)
    assert not first.completed
    assert first.progress.state is LeadState.SCHEDULED and first.progress.next_step == 2
    assert first.progress.due_at == sent_at + timedelta(minutes=60)
    assert (first.progress.message_ids, first.progress.thread_mailbox_id) == (("<a@x>",), MAILBOX)
    assert moves.sent(first.progress, 1, "<a@x>", MAILBOX, sent_at, ACTIVE).progress == first.progress
    second = moves.sent(
        replace(first.progress, state=LeadState.DUE), 2, "<b@x>", uuid.uuid4(), sent_at, ACTIVE
    )
    assert second.progress.thread_mailbox_id == MAILBOX  # the thread keeps its first mailbox
    last = moves.sent(replace(second.progress, state=LeadState.DUE), 3, "<c@x>", MAILBOX, sent_at, ACTIVE)
    assert last.completed and last.progress.state is LeadState.COMPLETED
    assert last.progress.message_ids == ("<a@x>", "<b@x>", "<c@x>")
    assert not moves.sent(last.progress, 3, "<c@x>", MAILBOX, sent_at, ACTIVE).completed


def test_a_send_of_a_stopped_lead_joins_its_thread_and_the_lead_stays_stopped() -> None:
    stopped = moves.stopped(replace(scheduled(), state=LeadState.DUE), "replied")
    after = moves.sent(stopped, 1, "<a@x>", MAILBOX, T0, ACTIVE)
    assert not after.completed
    assert after.progress.state is LeadState.STOPPED and after.progress.message_ids == ("<a@x>",)


def test_a_late_send_of_an_uncertain_step_continues_the_sequence() -> None:
    unsure = replace(scheduled(), state=LeadState.UNCERTAIN)
    assert moves.sent(unsure, 1, "<a@x>", MAILBOX, T0, ACTIVE).progress.state is LeadState.SCHEDULED


def test_next_send_is_the_step_and_its_time_or_waiting() -> None:
    assert moves.next_send(scheduled(step=2, due=T0), ACTIVE) == (2, T0)
    assert moves.next_send(Progress(imported=True), ACTIVE) == (1, None)
    assert moves.next_send(Progress(imported=False), ACTIVE) is None
    assert moves.next_send(replace(scheduled(), state=LeadState.DUE), ACTIVE) is None
    assert moves.next_send(Progress(imported=True), Plan(delays=(), activated_at=None)) is None


# Events a lead may meet, in any order: import, verdicts of three runs (one each), a stop.
EVENTS: dict[str, Callable[[Progress], Progress]] = {
    "import": lambda p: moves.imported(p, T0, ACTIVE),
    "valid run 2": lambda p: moves.validated(p, Verdict.VALID, 2, T0, ACTIVE),
    "unknown run 1": lambda p: moves.validated(p, Verdict.UNKNOWN, 1, T0, ACTIVE),
    "invalid run 0": lambda p: moves.validated(p, Verdict.INVALID, 0, T0, ACTIVE),
    "reply": lambda p: moves.stopped(p, "replied"),
}


@given(st.lists(st.sampled_from(sorted(EVENTS)), min_size=1, max_size=5, unique=True), st.randoms())
def test_the_same_events_in_any_order_end_the_same_way(names: list[str], rand: object) -> None:
    shuffled = list(names)
    rand.shuffle(shuffled)  # type: ignore[attr-defined]
    ends = []
    for order in (names, shuffled):
        state = NEW
        for name in order:
            state = EVENTS[name](state)
        ends.append(state)
    # The stop reason may differ (the first stop wins) but where the lead ends does not. The latest
    # run's verdict counts: a later run withdraws run 0's invalid, whichever came first.
    assert ends[0].state is ends[1].state
    invalid = "invalid run 0" in names and not {"unknown run 1", "valid run 2"} & set(names)
    assert (ends[0].state is LeadState.STOPPED) == ("reply" in names or invalid)


@given(
    st.lists(
        st.sampled_from(["import", "valid", "emit", "send", "uncertain", "stop", "reconsider", "missing"]),
        max_size=30,
    )
)
def test_no_transition_leaves_a_final_state_or_goes_back_a_step(script: list[str]) -> None:
    state = NEW
    step_moves: dict[str, Callable[[Progress], Progress]] = {
        "import": lambda p: moves.imported(p, T0, ACTIVE),
        "valid": lambda p: moves.validated(p, Verdict.VALID, 0, T0, ACTIVE),
        "emit": lambda p: moves.emitted(p, ()),
        "missing": lambda p: moves.emitted(p, ("x",)),
        "send": lambda p: moves.sent(p, p.next_step, f"<{p.next_step}@x>", MAILBOX, T0, ACTIVE).progress,
        "uncertain": lambda p: moves.uncertain(p, p.next_step),
        "stop": lambda p: moves.stopped(p, "replied"),
        "reconsider": lambda p: moves.reconsidered(p, T0),
    }
    for name in script:
        after = step_moves[name](state)
        if state.state in moves.FINAL:
            assert after.state is state.state
        assert after.next_step >= state.next_step
        assert len(after.message_ids) >= len(state.message_ids)
        assert after.next_step <= ACTIVE.total_steps
        state = after
