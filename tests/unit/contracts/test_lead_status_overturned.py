"""A reply or a hard bounce overturned in the Unibox (`InboundReclassified` with `undoes`): the lead leaves the
status it gave, as by a person's decision, only while that status is still the automatic one it gave."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from contracts import Event, LeadStatus, fold

from ._factories import T0, T1, T2, T3, make

S = LeadStatus


def overturned(undoes: LeadStatus | None, at: datetime, **fields: object) -> Event:
    return make("inbound_reclassified", at=at, undoes=undoes, event_id=UUID(int=7), **fields)


def test_an_overturned_reply_takes_the_lead_out_of_replied() -> None:
    state = fold([make("email_sent", T0), make("reply_detected", T1), overturned(S.REPLIED, T2)])
    assert (state.status, state.status_at, state.manual_at) == (S.CONTACTED, T2, T2)


def test_the_overturned_reply_arriving_again_stays_overturned() -> None:
    """A redelivered ReplyDetected is older than the overturning, so it no longer counts."""
    events = [make("email_sent", T0), make("reply_detected", T1), overturned(S.REPLIED, T2)]
    assert fold([*events, make("reply_detected", T1)]).status is S.CONTACTED


def test_a_reply_after_the_overturning_makes_the_lead_replied_again() -> None:
    events = [make("reply_detected", T1), overturned(S.REPLIED, T2), make("reply_detected", T3)]
    assert fold(events).status is S.REPLIED


def test_an_overturned_hard_bounce_takes_the_lead_out_of_bounced() -> None:
    events = [make("email_sent", T0), make("email_bounced", T1, kind="hard"), overturned(S.BOUNCED, T2)]
    assert fold(events).status is S.CONTACTED


def test_an_overturning_undoes_nothing_of_another_status() -> None:
    """The lead unsubscribed before: that is not what the overturned reply gave it."""
    events = [make("lead_unsubscribed", T0), make("reply_detected", T1), overturned(S.REPLIED, T2)]
    assert fold(events).status is S.UNSUBSCRIBED
    assert fold([make("reply_detected", T1), overturned(S.BOUNCED, T2)]).status is S.REPLIED


def test_nothing_to_undo_changes_nothing() -> None:
    """Another reply of the lead still stands (the inbox says `undoes` None), or the kind gave no status."""
    before = fold([make("email_sent", T0), make("reply_detected", T1)])
    assert fold([overturned(None, T2, from_kind="auto_reply", to_kind="reply")], before) == before


def test_a_persons_status_stands() -> None:
    """Replied set by a person, or a person's decision after the overturning, is not undone."""
    by_hand = make("lead_status_changed", T1, status=S.REPLIED, event_id=UUID(int=1))
    assert fold([by_hand, overturned(S.REPLIED, T2)]).status is S.REPLIED
    later = make("lead_status_changed", T3, status=S.REPLIED, event_id=UUID(int=1))
    assert fold([make("reply_detected", T1), later, overturned(S.REPLIED, T2)]).status is S.REPLIED


def test_a_reply_under_an_invalid_verdict_is_overturned_too() -> None:
    events = [
        make("reply_detected", T0),
        make("lead_validated", T1, verdict="invalid"),
        overturned(S.REPLIED, T2),
    ]
    assert fold(events).status is S.CONTACTED
