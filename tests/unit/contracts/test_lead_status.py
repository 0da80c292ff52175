from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import (
    EVENT_TYPES,
    TERMINAL,
    Event,
    LeadState,
    LeadStatus,
    LeadStatusChanged,
    LeadValidated,
    Verdict,
    apply,
    fold,
    stops_sequence,
)

from ._factories import T0, T1, T2, T3, make

S = LeadStatus
PROPS = settings(max_examples=200, deadline=None)

# Restated from the decided semantics rather than imported, so the tests are an independent oracle.
PRIORITY = {S.UNSUBSCRIBED: 0, S.BOUNCED: 1, S.REPLIED: 2, S.INVALID: 3}
RANK = {S.PENDING: 0, S.CONTACTED: 1, S.COMPLETED: 2}
PROGRESS = {"lead_imported": S.PENDING, "email_sent": S.CONTACTED, "lead_completed": S.COMPLETED}
NO_STATUS_EFFECT = [
    "step_due",
    "import_completed",
    "import_progress",
    "campaign_created",
    "campaign_updated",
    "auto_reply_detected",
]


def manual(status: LeadStatus, at: datetime, event_id: int = 1) -> Event:
    return make("lead_status_changed", at=at, status=status, event_id=UUID(int=event_id))


def st_at(status: LeadStatus, at: datetime | None) -> LeadState:
    return LeadState(status=status, status_at=at)


def status_of(state: LeadState) -> tuple[LeadStatus, datetime | None]:
    return state.status, state.status_at


def invalid_by_verdict(at: datetime, base: LeadStatus, base_at: datetime | None, run: int = 0) -> LeadState:
    """Invalid because validation run `run` said so at `at`; the other events say `base` since `base_at`."""
    return LeadState(S.INVALID, at, base_status=base, base_at=base_at, verdict_run=run, verdict_invalid_at=at)


# (start, event, expected)
TRANSITIONS: list[tuple[str, LeadState, Event, LeadState]] = [
    ("import", LeadState(), make("lead_imported", T1), st_at(S.PENDING, T1)),
    ("sent", LeadState(), make("email_sent", T1), st_at(S.CONTACTED, T1)),
    ("sent_after_sent", st_at(S.CONTACTED, T1), make("email_sent", T2), st_at(S.CONTACTED, T2)),
    ("reimport_no_downgrade", st_at(S.CONTACTED, T2), make("lead_imported", T1), st_at(S.CONTACTED, T2)),
    ("completed", st_at(S.CONTACTED, T1), make("lead_completed", T2), st_at(S.COMPLETED, T2)),
    ("late_sent_keeps_completed", st_at(S.COMPLETED, T2), make("email_sent", T1), st_at(S.COMPLETED, T2)),
    ("later_sent_keeps_completed", st_at(S.COMPLETED, T1), make("email_sent", T2), st_at(S.COMPLETED, T2)),
    (
        "invalid",
        st_at(S.PENDING, T1),
        make("lead_validated", T2, verdict="invalid"),
        invalid_by_verdict(T2, S.PENDING, T1),
    ),
    (
        "valid",
        st_at(S.PENDING, T1),
        make("lead_validated", T2, verdict="valid"),
        LeadState(S.PENDING, T1, verdict_run=0),
    ),
    (
        "unknown",
        st_at(S.PENDING, T1),
        make("lead_validated", T2, verdict="unknown"),
        LeadState(S.PENDING, T1, verdict_run=0),
    ),
    ("hard_bounce", st_at(S.CONTACTED, T1), make("email_bounced", T2, kind="hard"), st_at(S.BOUNCED, T2)),
    ("soft_bounce", st_at(S.CONTACTED, T1), make("email_bounced", T2, kind="soft"), st_at(S.CONTACTED, T1)),
    ("reply", st_at(S.CONTACTED, T1), make("reply_detected", T2), st_at(S.REPLIED, T2)),
    ("auto_reply", st_at(S.CONTACTED, T1), make("auto_reply_detected", T2), st_at(S.CONTACTED, T1)),
    ("unsubscribe", st_at(S.CONTACTED, T1), make("lead_unsubscribed", T2), st_at(S.UNSUBSCRIBED, T2)),
    ("terminal_takes_own_time", st_at(S.COMPLETED, T2), make("reply_detected", T1), st_at(S.REPLIED, T1)),
    ("terminal_absorbs_sent", st_at(S.REPLIED, T1), make("email_sent", T2), st_at(S.REPLIED, T1)),
    ("terminal_absorbs_older_sent", st_at(S.REPLIED, T2), make("email_sent", T1), st_at(S.REPLIED, T2)),
    ("terminal_absorbs_completed", st_at(S.BOUNCED, T1), make("lead_completed", T2), st_at(S.BOUNCED, T1)),
    ("earlier_terminal_wins", st_at(S.REPLIED, T2), make("email_bounced", T1), st_at(S.BOUNCED, T1)),
    ("later_terminal_loses", st_at(S.REPLIED, T1), make("email_bounced", T2), st_at(S.REPLIED, T1)),
    ("tie_unsub_beats_reply", st_at(S.REPLIED, T1), make("lead_unsubscribed", T1), st_at(S.UNSUBSCRIBED, T1)),
    (
        "tie_reply_loses_to_unsub",
        st_at(S.UNSUBSCRIBED, T1),
        make("reply_detected", T1),
        st_at(S.UNSUBSCRIBED, T1),
    ),
    ("tie_bounce_beats_invalid", st_at(S.INVALID, T1), make("email_bounced", T1), st_at(S.BOUNCED, T1)),
    (
        "tie_invalid_loses_to_reply",
        st_at(S.REPLIED, T1),
        make("lead_validated", T1, verdict="invalid"),
        LeadState(S.REPLIED, T1, verdict_run=0, verdict_invalid_at=T1),
    ),
    (
        "rerun_valid_returns_to_pending",
        invalid_by_verdict(T2, S.PENDING, T1),
        make("lead_validated", T3, verdict="valid", run=1),
        LeadState(S.PENDING, T1, verdict_run=1),
    ),
    (
        "rerun_unknown_returns_to_pending",
        invalid_by_verdict(T2, S.PENDING, T1),
        make("lead_validated", T3, verdict="unknown", run=1),
        LeadState(S.PENDING, T1, verdict_run=1),
    ),
    (
        "rerun_returns_to_what_came_while_invalid",
        invalid_by_verdict(T1, S.CONTACTED, T2),
        make("lead_validated", T3, verdict="valid", run=1),
        LeadState(S.CONTACTED, T2, verdict_run=1),
    ),
    (
        "rerun_invalid_again_takes_its_own_time",
        invalid_by_verdict(T1, S.PENDING, T0),
        make("lead_validated", T3, verdict="invalid", run=1),
        invalid_by_verdict(T3, S.PENDING, T0, run=1),
    ),
    (
        "older_run_is_ignored",
        LeadState(S.PENDING, T1, verdict_run=1),
        make("lead_validated", T3, verdict="invalid", run=0),
        LeadState(S.PENDING, T1, verdict_run=1),
    ),
    (
        "same_run_earliest_invalid_counts",
        invalid_by_verdict(T2, S.PENDING, T1),
        make("lead_validated", T3, verdict="valid"),
        invalid_by_verdict(T2, S.PENDING, T1),
    ),
    (
        "same_run_earlier_invalid_moves_it",
        invalid_by_verdict(T2, S.PENDING, T1),
        make("lead_validated", T1, verdict="invalid"),
        LeadState(S.INVALID, T1, verdict_run=0, verdict_invalid_at=T1, base_status=S.PENDING, base_at=T1),
    ),
    (
        "progress_while_invalid_is_kept_aside",
        invalid_by_verdict(T1, S.PENDING, T0),
        make("email_sent", T2),
        invalid_by_verdict(T1, S.CONTACTED, T2),
    ),
    (
        "earlier_bounce_beats_the_verdict",
        invalid_by_verdict(T2, S.CONTACTED, T1),
        make("email_bounced", T1, kind="hard"),
        LeadState(S.BOUNCED, T1, verdict_run=0, verdict_invalid_at=T2),
    ),
    (
        "not_a_verdict_invalid_stays_after_a_valid_rerun",
        st_at(S.INVALID, T1),
        make("lead_validated", T2, verdict="valid", run=1),
        LeadState(S.INVALID, T1, verdict_run=1),
    ),
    (
        "untimed_terminal_absorbs",
        st_at(S.REPLIED, None),
        make("lead_unsubscribed", T0),
        st_at(S.REPLIED, None),
    ),
    (
        "manual_first",
        st_at(S.CONTACTED, T1),
        manual(S.REPLIED, T2),
        LeadState(S.REPLIED, T2, T2, UUID(int=1)),
    ),
    (
        "manual_overrides_terminal",
        st_at(S.BOUNCED, T1),
        manual(S.PENDING, T2),
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
    ),
    (
        "manual_older_loses",
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
        manual(S.REPLIED, T1, event_id=9),
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
    ),
    (
        "manual_tie_larger_id_wins",
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
        manual(S.REPLIED, T2, event_id=2),
        LeadState(S.REPLIED, T2, T2, UUID(int=2)),
    ),
    (
        "manual_tie_smaller_id_loses",
        LeadState(S.PENDING, T2, T2, UUID(int=2)),
        manual(S.REPLIED, T2, event_id=1),
        LeadState(S.PENDING, T2, T2, UUID(int=2)),
    ),
    (
        "manual_reapplied_is_noop",
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
        manual(S.PENDING, T2, event_id=1),
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
    ),
    (
        "automatic_before_manual_ignored",
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
        make("reply_detected", T1),
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
    ),
    (
        "automatic_at_manual_applies",
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
        make("email_sent", T2),
        LeadState(S.CONTACTED, T2, T2, UUID(int=1)),
    ),
    (
        "automatic_after_manual_applies",
        LeadState(S.CONTACTED, T2, T2, UUID(int=1)),
        make("reply_detected", T3),
        LeadState(S.REPLIED, T3, T2, UUID(int=1)),
    ),
    (
        "manual_terminal_absorbs_later_progress",
        LeadState(S.REPLIED, T2, T2, UUID(int=1)),
        make("email_sent", T3),
        LeadState(S.REPLIED, T2, T2, UUID(int=1)),
    ),
    (
        "manual_terminal_yields_to_later_terminal_only_if_earlier",
        LeadState(S.REPLIED, T2, T2, UUID(int=1)),
        make("email_bounced", T3),
        LeadState(S.REPLIED, T2, T2, UUID(int=1)),
    ),
    (
        "manual_replaces_an_invalid_verdict_and_remembers_the_run",
        invalid_by_verdict(T1, S.PENDING, T0, run=2),
        manual(S.PENDING, T2),
        LeadState(S.PENDING, T2, T2, UUID(int=1), verdict_run=2),
    ),
    (
        "manual_invalid_stays_after_a_valid_rerun",
        LeadState(S.INVALID, T2, T2, UUID(int=1), verdict_run=0),
        make("lead_validated", T3, verdict="valid", run=1),
        LeadState(S.INVALID, T2, T2, UUID(int=1), verdict_run=1),
    ),
    (
        "verdict_before_manual_is_hidden_but_its_run_counts",
        LeadState(S.PENDING, T2, T2, UUID(int=1)),
        make("lead_validated", T1, verdict="invalid", run=1),
        LeadState(S.PENDING, T2, T2, UUID(int=1), verdict_run=1),
    ),
    (
        "verdict_after_manual_applies",
        LeadState(S.CONTACTED, T2, T2, UUID(int=1)),
        make("lead_validated", T3, verdict="invalid"),
        LeadState(S.INVALID, T3, T2, UUID(int=1), S.CONTACTED, T2, 0, T3),
    ),
]


@pytest.mark.parametrize(
    ("start", "event", "expected"), [t[1:] for t in TRANSITIONS], ids=[t[0] for t in TRANSITIONS]
)
def test_transition(start: LeadState, event: Event, expected: LeadState) -> None:
    assert apply(start, event) == expected


@pytest.mark.parametrize("event_type", NO_STATUS_EFFECT)
@pytest.mark.parametrize("status", list(S))
def test_events_without_status_effect_return_state_unchanged(status: LeadStatus, event_type: str) -> None:
    state = LeadState(status, T1)
    assert apply(state, make(event_type, T2)) is state


def test_fold_sequence() -> None:
    events = [
        make("lead_imported", T0),
        make("lead_validated", T0, verdict="valid"),
        make("email_sent", T1),
        make("auto_reply_detected", T2),
        make("reply_detected", T3),
        make("lead_completed", T3),
    ]
    assert fold(events) == LeadState(S.REPLIED, T3, verdict_run=0)
    assert fold([]) == LeadState()
    assert fold([make("email_sent", T2)], LeadState(S.COMPLETED, T1)) == LeadState(S.COMPLETED, T2)


def test_a_broken_resolver_run_is_undone_by_a_rerun_and_what_came_meanwhile_is_kept() -> None:
    poisoned = fold(
        [
            make("lead_imported", T0),
            make("lead_validated", T0, verdict="invalid", reason="no_such_domain"),
            make("email_sent", T1),
        ]
    )
    assert (poisoned.status, poisoned.status_at) == (S.INVALID, T0)
    rerun = apply(poisoned, make("lead_validated", T2, verdict="valid", run=1))
    assert (rerun.status, rerun.status_at) == (S.CONTACTED, T1)
    replied_meanwhile = fold(
        [make("reply_detected", T1), make("lead_validated", T2, verdict="unknown", run=1)], poisoned
    )
    assert (replied_meanwhile.status, replied_meanwhile.status_at) == (S.REPLIED, T1)
    # The late first-run verdict of a lead re-verified meanwhile changes nothing.
    assert apply(rerun, make("lead_validated", T3, verdict="invalid", run=0)) is rerun


def test_terminal_set() -> None:
    assert {S.REPLIED, S.BOUNCED, S.UNSUBSCRIBED, S.INVALID} == TERMINAL


@pytest.mark.parametrize(
    "build",
    [lambda: LeadState(status_at=datetime(2025, 1, 1)), lambda: LeadState(manual_at=datetime(2025, 1, 1))],
    ids=["status_at", "manual_at"],
)
def test_lead_state_rejects_naive_datetimes(build: Callable[[], LeadState]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build()


# --- properties -------------------------------------------------------------------------------

TIMES = st.sampled_from([T0, T1, T2])  # few instants, so ties are common
RUNS = st.integers(0, 2)
# A person's decisions: a manual change, and an inbound message's overturning (test_lead_status_overturned.py).
AUTOMATIC_TYPES = [t for t in EVENT_TYPES if t not in ("lead_status_changed", "inbound_reclassified")]
TERMINAL_MAKERS: dict[LeadStatus, tuple[str, dict[str, Any]]] = {
    S.REPLIED: ("reply_detected", {}),
    S.BOUNCED: ("email_bounced", {"kind": "hard"}),
    S.UNSUBSCRIBED: ("lead_unsubscribed", {}),
    S.INVALID: ("lead_validated", {"verdict": "invalid"}),
}


def terminal_event(status: LeadStatus, at: datetime) -> Event:
    event_type, fields = TERMINAL_MAKERS[status]
    return make(event_type, at, **fields)


def terminal_target(event: Event) -> LeadStatus | None:
    for status, (event_type, fields) in TERMINAL_MAKERS.items():
        if event.event_type == event_type and all(getattr(event, k) == v for k, v in fields.items()):
            return status
    return None


@st.composite
def automatic_events(draw: st.DrawFn, times: st.SearchStrategy[datetime] = TIMES) -> Event:
    event_type = draw(st.sampled_from(AUTOMATIC_TYPES))
    fields: dict[str, Any] = {}
    if event_type == "lead_validated":
        fields["verdict"] = draw(st.sampled_from(["valid", "invalid", "unknown"]))
        fields["run"] = draw(RUNS)
    if event_type == "email_bounced":
        fields["kind"] = draw(st.sampled_from(["hard", "soft"]))
    return make(event_type, draw(times), event_id=draw(st.uuids()), **fields)


@st.composite
def lead_states(draw: st.DrawFn) -> LeadState:
    """Any state, including ones the fold never produces (a status its other fields do not explain)."""
    manual_at = draw(st.none() | TIMES)
    base_status = draw(st.none() | st.sampled_from(S))
    verdict_run = draw(st.none() | RUNS)
    return LeadState(
        status=draw(st.sampled_from(S)),
        status_at=draw(st.none() | TIMES),
        manual_at=manual_at,
        manual_id=None if manual_at is None else draw(st.uuids()),
        base_status=base_status,
        base_at=None if base_status is None else draw(st.none() | TIMES),
        verdict_run=verdict_run,
        verdict_invalid_at=None if verdict_run is None else draw(st.none() | TIMES),
    )


def expected_status(events: list[Event]) -> tuple[LeadStatus, datetime | None]:
    """The decided semantics restated: only the latest run's verdicts count, and an invalid one is a
    terminal fact; the earliest terminal fact wins (ties by priority), else the highest progress."""
    verdicts = [e for e in events if isinstance(e, LeadValidated)]
    latest = max((v.run for v in verdicts), default=0)
    facts: list[tuple[LeadStatus, datetime]] = [
        (S.INVALID, v.occurred_at) for v in verdicts if v.run == latest and v.verdict is Verdict.INVALID
    ]
    progress: list[tuple[LeadStatus, datetime]] = []
    for event in events:
        target = terminal_target(event)
        if target is not None and target is not S.INVALID:
            facts.append((target, event.occurred_at))
        elif event.event_type in PROGRESS:
            progress.append((PROGRESS[event.event_type], event.occurred_at))
    if facts:
        return min(facts, key=lambda fact: (fact[1], PRIORITY[fact[0]]))
    if progress:
        return max(progress, key=lambda fact: RANK[fact[0]])[0], max(at for _, at in progress)
    return S.PENDING, None


@PROPS
@given(
    st.lists(automatic_events(), max_size=12).flatmap(lambda es: st.tuples(st.just(es), st.permutations(es)))
)
def test_a_automatic_events_converge_in_any_order(pair: tuple[list[Event], list[Event]]) -> None:
    events, shuffled = pair
    assert fold(shuffled) == fold(events)


@PROPS
@given(
    lead_states(),
    st.lists(automatic_events(), max_size=12).flatmap(lambda es: st.tuples(st.just(es), st.permutations(es))),
)
def test_a_automatic_events_converge_from_any_state(
    start: LeadState, pair: tuple[list[Event], list[Event]]
) -> None:
    events, shuffled = pair
    assert fold(shuffled, start) == fold(events, start)


@PROPS
@given(st.lists(automatic_events(), max_size=12))
def test_a_the_status_is_the_latest_runs_verdicts_with_the_other_events(events: list[Event]) -> None:
    final = fold(events)
    assert (final.status, final.status_at) == expected_status(events)


@PROPS
@given(
    st.lists(automatic_events(), max_size=12),
    st.sampled_from(["valid", "unknown"]),
    TIMES,
    st.data(),
)
def test_a_a_later_run_finding_the_lead_valid_or_unknown_undoes_every_earlier_verdict(
    events: list[Event], verdict: str, at: datetime, data: st.DataObject
) -> None:
    later_run = max((e.run for e in events if isinstance(e, LeadValidated)), default=0) + 1
    rerun = make("lead_validated", at, verdict=verdict, run=later_run)
    without_verdicts = fold([e for e in events if not isinstance(e, LeadValidated)])
    # Wherever the re-run's verdict arrives among the others.
    position = data.draw(st.integers(0, len(events)))
    final = fold([*events[:position], rerun, *events[position:]])
    assert (final.status, final.status_at) == (without_verdicts.status, without_verdicts.status_at)
    assert final.verdict_run == later_run


@PROPS
@given(
    st.sampled_from(sorted(TERMINAL)),
    TIMES,
    st.sampled_from([S.PENDING, S.CONTACTED, S.COMPLETED]),
    st.none() | TIMES,
    st.data(),
)
def test_b_terminal_absorbs_automatic_events_at_or_after_it(
    terminal: LeadStatus, t: datetime, before: LeadStatus, before_at: datetime | None, data: st.DataObject
) -> None:
    reached = apply(LeadState(before, before_at), terminal_event(terminal, t))
    assert status_of(reached) == (terminal, t)
    later = data.draw(automatic_events(st.sampled_from([x for x in (T0, T1, T2, T3) if x >= t])))
    other = terminal_target(later)
    after = apply(reached, later)
    if later.occurred_at == t and other is not None and PRIORITY[other] < PRIORITY[terminal]:
        # A simultaneous terminal fact with a stronger tie-break wins.
        assert status_of(after) == (other, t)
    elif terminal is S.INVALID and isinstance(later, LeadValidated) and later.run > 0:
        # The one way back: a later validation run replaces the verdict that made the lead Invalid.
        if later.verdict is Verdict.INVALID:
            assert status_of(after) == (S.INVALID, later.occurred_at)
        else:
            assert status_of(after) == (before, before_at)
    else:
        assert status_of(after) == status_of(reached)


@PROPS
@given(st.sampled_from(sorted(TERMINAL)), TIMES, st.none() | TIMES)
def test_c_completed_can_still_turn_terminal(
    terminal: LeadStatus, at: datetime, completed_at: datetime | None
) -> None:
    assert status_of(apply(LeadState(S.COMPLETED, completed_at), terminal_event(terminal, at))) == (
        terminal,
        at,
    )


@PROPS
@given(
    lead_states(),
    st.lists(st.tuples(TIMES, st.sampled_from(S)), min_size=1, max_size=8),
    st.data(),
)
def test_d_manual_changes_last_writer_wins(
    start: LeadState, changes: list[tuple[datetime, LeadStatus]], data: st.DataObject
) -> None:
    ids = data.draw(st.lists(st.uuids(), min_size=len(changes), max_size=len(changes), unique=True))
    # Later than any start.manual_at, so the outcome depends only on the drawn changes.
    events = [
        make("lead_status_changed", at.replace(year=2026), status=status, event_id=i)
        for (at, status), i in zip(changes, ids, strict=True)
    ]
    winner = max(events, key=lambda e: (e.occurred_at, e.event_id))
    assert isinstance(winner, LeadStatusChanged)
    final = fold(data.draw(st.permutations(events)), start)
    assert final == LeadState(
        winner.status, winner.occurred_at, winner.occurred_at, winner.event_id, verdict_run=start.verdict_run
    )


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@pytest.mark.parametrize("status", list(S))
def test_e_apply_is_total_over_status_and_event_type(status: LeadStatus, event_type: str) -> None:
    for state in (LeadState(status), LeadState(status, T1), LeadState(status, T1, T1, UUID(int=1))):
        for at in (T0, T1, T2):
            assert isinstance(apply(state, make(event_type, at)), LeadState)


@PROPS
@given(lead_states(), automatic_events() | st.builds(manual, st.sampled_from(S), TIMES, st.integers(0, 3)))
def test_e_apply_is_total(state: LeadState, event: Event) -> None:
    result = apply(state, event)
    assert isinstance(result, LeadState)
    assert result.status in S
    assert apply(result, event) == result  # idempotent: redelivery of the same event is harmless


@pytest.mark.parametrize(
    ("event", "stop_on_reply", "stops"),
    [
        (make("reply_detected"), True, True),
        (make("reply_detected"), False, False),
        (make("auto_reply_detected"), True, False),
        (make("email_bounced"), True, True),
        (make("email_bounced", kind="soft"), True, False),
        (make("lead_unsubscribed"), False, True),
        (make("send_failed"), True, True),
        (make("leads_removed"), True, True),
        (make("sequence_stopped"), False, True),  # the sequencer decided it (a colleague replied)
        (make("inbound_reclassified"), True, False),
        (make("lead_validated", verdict="invalid"), True, True),
        (make("lead_validated", verdict="unknown"), True, False),
        (make("lead_status_changed", status="bounced"), True, True),
        (make("lead_status_changed", status="completed"), True, True),
        (make("lead_status_changed", status="pending"), True, False),
        (make("lead_status_changed", status="contacted"), True, False),
        (make("email_sent"), True, False),
        (make("send_uncertain"), True, False),
        (make("step_not_sendable"), True, False),
    ],
)
def test_what_stops_a_sequence(event: Event, stop_on_reply: bool, stops: bool) -> None:
    assert stops_sequence(event, stop_on_reply=stop_on_reply) is stops
