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
    apply,
    fold,
)

from ._factories import T0, T1, T2, T3, make

S = LeadStatus
PROPS = settings(max_examples=200, deadline=None)

# Restated from the decided semantics rather than imported, so the tests are an independent oracle.
PRIORITY = {S.UNSUBSCRIBED: 0, S.BOUNCED: 1, S.REPLIED: 2, S.INVALID: 3}
NO_STATUS_EFFECT = [
    "step_due",
    "import_completed",
    "import_progress",
    "campaign_created",
    "auto_reply_detected",
]


def manual(status: LeadStatus, at: datetime, event_id: int = 1) -> Event:
    return make("lead_status_changed", at=at, status=status, event_id=UUID(int=event_id))


def st_at(status: LeadStatus, at: datetime | None) -> LeadState:
    return LeadState(status=status, status_at=at)


# (start, event, expected)
TRANSITIONS: list[tuple[str, LeadState, Event, LeadState]] = [
    ("import", LeadState(), make("lead_imported", T1), st_at(S.PENDING, T1)),
    ("sent", LeadState(), make("email_sent", T1), st_at(S.CONTACTED, T1)),
    ("sent_after_sent", st_at(S.CONTACTED, T1), make("email_sent", T2), st_at(S.CONTACTED, T2)),
    ("reimport_no_downgrade", st_at(S.CONTACTED, T2), make("lead_imported", T1), st_at(S.CONTACTED, T2)),
    ("completed", st_at(S.CONTACTED, T1), make("lead_completed", T2), st_at(S.COMPLETED, T2)),
    ("late_sent_keeps_completed", st_at(S.COMPLETED, T2), make("email_sent", T1), st_at(S.COMPLETED, T2)),
    ("later_sent_keeps_completed", st_at(S.COMPLETED, T1), make("email_sent", T2), st_at(S.COMPLETED, T2)),
    ("invalid", st_at(S.PENDING, T1), make("lead_validated", T2, verdict="invalid"), st_at(S.INVALID, T2)),
    ("valid", st_at(S.PENDING, T1), make("lead_validated", T2, verdict="valid"), st_at(S.PENDING, T1)),
    ("unknown", st_at(S.PENDING, T1), make("lead_validated", T2, verdict="unknown"), st_at(S.PENDING, T1)),
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
        st_at(S.REPLIED, T1),
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
    assert fold(events) == LeadState(S.REPLIED, T3)
    assert fold([]) == LeadState()
    assert fold([make("email_sent", T2)], LeadState(S.COMPLETED, T1)) == LeadState(S.COMPLETED, T2)


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
AUTOMATIC_TYPES = [t for t in EVENT_TYPES if t != "lead_status_changed"]
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
    if event_type == "email_bounced":
        fields["kind"] = draw(st.sampled_from(["hard", "soft"]))
    return make(event_type, draw(times), event_id=draw(st.uuids()), **fields)


@st.composite
def lead_states(draw: st.DrawFn) -> LeadState:
    manual_at = draw(st.none() | TIMES)
    return LeadState(
        status=draw(st.sampled_from(S)),
        status_at=draw(st.none() | TIMES),
        manual_at=manual_at,
        manual_id=None if manual_at is None else draw(st.uuids()),
    )


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
    assert reached == LeadState(terminal, t)
    later = data.draw(automatic_events(st.sampled_from([x for x in (T0, T1, T2, T3) if x >= t])))
    other = terminal_target(later)
    if later.occurred_at == t and other is not None and PRIORITY[other] < PRIORITY[terminal]:
        # The one exception: a simultaneous terminal fact with a stronger tie-break wins.
        assert apply(reached, later) == LeadState(other, t)
    else:
        assert apply(reached, later) == reached


@PROPS
@given(st.sampled_from(sorted(TERMINAL)), TIMES, st.none() | TIMES)
def test_c_completed_can_still_turn_terminal(
    terminal: LeadStatus, at: datetime, completed_at: datetime | None
) -> None:
    assert apply(LeadState(S.COMPLETED, completed_at), terminal_event(terminal, at)) == LeadState(
        terminal, at
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
    assert final == LeadState(winner.status, winner.occurred_at, winner.occurred_at, winner.event_id)


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
