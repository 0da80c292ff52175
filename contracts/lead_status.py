"""A lead's status as a pure fold over its events.

Automatic events converge: the same set in any order yields the same state. Progress statuses
only move up (Pending < Contacted < Completed); the earliest terminal fact wins, ties broken by a
fixed priority. A manual change is last-writer-wins and hides automatic events older than it.

Verdicts are the one automatic fact that can be withdrawn: only the verdicts of a lead's latest
validation run count, so a lead that is Invalid only because of a verdict returns to the status its
other events give when a re-run finds it valid or unknown. That is why the state keeps the other
events' status (`base_status`) apart from the verdict's (`verdict_run`, `verdict_invalid_at`).

A reply or a hard bounce that a person overturns in the Unibox (`InboundReclassified` with `undoes`) is
withdrawn as a person's decision: a lead still Replied (Bounced) by an automatic fact becomes Contacted,
like a manual change at that time, so the overturned event and every older automatic one no longer count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

from contracts._status import LeadStatus
from contracts.events import (
    EmailBounced,
    EmailSent,
    Event,
    InboundReclassified,
    LeadCompleted,
    LeadImported,
    LeadsRemoved,
    LeadStatusChanged,
    LeadUnsubscribed,
    LeadValidated,
    ReplyDetected,
    SendFailed,
    SequenceStopped,
    Verdict,
)

__all__ = ["TERMINAL", "LeadState", "LeadStatus", "apply", "fold", "stops_sequence"]

TERMINAL: Final = frozenset(
    {LeadStatus.REPLIED, LeadStatus.BOUNCED, LeadStatus.UNSUBSCRIBED, LeadStatus.INVALID}
)

_RANK: Final[Mapping[LeadStatus, int]] = {
    LeadStatus.PENDING: 0,
    LeadStatus.CONTACTED: 1,
    LeadStatus.COMPLETED: 2,
}
# Only breaks ties between terminal facts at the same instant; lower wins.
_PRIORITY: Final[Mapping[LeadStatus, int]] = {
    LeadStatus.UNSUBSCRIBED: 0,
    LeadStatus.BOUNCED: 1,
    LeadStatus.REPLIED: 2,
    LeadStatus.INVALID: 3,
}
# A status without a time is treated as known since forever, so a timed terminal fact never beats it.
_SINCE_FOREVER: Final = datetime.min.replace(tzinfo=UTC)
_NIL_UUID: Final = UUID(int=0)


@dataclass(frozen=True, slots=True)
class LeadState:
    """`status` is the lead's status. The other fields are what keeps the fold order-independent.

    `base_status`/`base_at`: the status the events other than verdicts give, kept only while it differs
    from (`status`, `status_at`), that is while a verdict makes the lead Invalid; None means "the same".
    `verdict_run`: the highest validation run of a verdict seen (None before the first verdict).
    `verdict_invalid_at`: when that run first found the lead invalid (None if it did not, or if a later
    manual change hides it).
    """

    status: LeadStatus = LeadStatus.PENDING
    status_at: datetime | None = None
    manual_at: datetime | None = None
    manual_id: UUID | None = None
    base_status: LeadStatus | None = None
    base_at: datetime | None = None
    verdict_run: int | None = None
    verdict_invalid_at: datetime | None = None

    def __post_init__(self) -> None:
        # Comparing naive with aware datetimes raises, which would make ``apply`` partial.
        for name in ("status_at", "manual_at", "base_at", "verdict_invalid_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")

    @property
    def base(self) -> tuple[LeadStatus, datetime | None]:
        """The status (and its time) the events other than verdicts give."""
        if self.base_status is None:
            return self.status, self.status_at
        return self.base_status, self.base_at


def _automatic_target(event: Event) -> LeadStatus | None:
    match event:
        case LeadImported():
            return LeadStatus.PENDING
        case EmailSent():
            return LeadStatus.CONTACTED
        case LeadCompleted():
            return LeadStatus.COMPLETED
        case EmailBounced(kind="hard"):
            return LeadStatus.BOUNCED
        case ReplyDetected():
            return LeadStatus.REPLIED
        case LeadUnsubscribed():
            return LeadStatus.UNSUBSCRIBED
        case _:
            return None


def _earlier_terminal(at: datetime, target: LeadStatus, since: datetime | None, status: LeadStatus) -> bool:
    """Whether a terminal fact `target` at `at` beats the terminal `status` known since `since`."""
    return (at, _PRIORITY[target]) < (since or _SINCE_FOREVER, _PRIORITY[status])


def _settled(
    state: LeadState,
    base: tuple[LeadStatus, datetime | None],
    verdict_run: int | None,
    verdict_invalid_at: datetime | None,
) -> LeadState:
    """The state whose other events give `base` and whose latest verdicts say `verdict_invalid_at`: an
    invalid verdict is a terminal fact at its time, competing with the base as any terminal fact does."""
    status, status_at = base
    if verdict_invalid_at is not None and (
        status not in TERMINAL or _earlier_terminal(verdict_invalid_at, LeadStatus.INVALID, status_at, status)
    ):
        status, status_at = LeadStatus.INVALID, verdict_invalid_at
    held = (status, status_at) != base
    return replace(
        state,
        status=status,
        status_at=status_at,
        base_status=base[0] if held else None,
        base_at=base[1] if held else None,
        verdict_run=verdict_run,
        verdict_invalid_at=verdict_invalid_at,
    )


def _apply_manual(state: LeadState, event: LeadStatusChanged) -> LeadState:
    if state.manual_at is not None and (event.occurred_at, event.event_id) <= (
        state.manual_at,
        state.manual_id or _NIL_UUID,
    ):
        return state
    # A person's decision replaces every status fact known so far, an invalid verdict included; which
    # validation run is the latest stays known, so a late verdict of an older run still does not count.
    return LeadState(
        status=event.status,
        status_at=event.occurred_at,
        manual_at=event.occurred_at,
        manual_id=event.event_id,
        verdict_run=state.verdict_run,
    )


def _apply_verdict(state: LeadState, event: LeadValidated) -> LeadState:
    if state.verdict_run is not None and event.run < state.verdict_run:
        return state  # an older run's verdict: a later run has replaced it
    # A verdict older than the latest manual change is hidden (it still tells which run is the latest).
    invalid_at = (
        event.occurred_at
        if event.verdict is Verdict.INVALID
        and (state.manual_at is None or event.occurred_at >= state.manual_at)
        else None
    )
    if state.verdict_run == event.run and state.verdict_invalid_at is not None:
        # Within one run, as between terminal facts, the earliest invalid verdict counts.
        invalid_at = (
            state.verdict_invalid_at if invalid_at is None else min(invalid_at, state.verdict_invalid_at)
        )
    return _settled(state, state.base, event.run, invalid_at)


def _apply_fact(
    base: tuple[LeadStatus, datetime | None], target: LeadStatus, at: datetime
) -> tuple[LeadStatus, datetime | None]:
    """The status of the events other than verdicts after one more automatic fact."""
    status, since = base
    if target in TERMINAL:
        if status not in TERMINAL or _earlier_terminal(at, target, since, status):
            return target, at
        return base
    if status in TERMINAL:
        return base
    return max(status, target, key=_RANK.__getitem__), max(since or _SINCE_FOREVER, at)


def _apply_overturned(state: LeadState, event: InboundReclassified) -> LeadState:
    """The lead leaves the status an overturned decision gave it (see the module), unless it no longer has
    it, a person set it, or a person decided after the overturning."""
    status, since = state.base
    if event.undoes is None or status is not event.undoes:
        return state
    if state.manual_at is not None and (since == state.manual_at or event.occurred_at < state.manual_at):
        return state
    # The lead was sent to (the message answered a send), so at least Contacted.
    return LeadState(
        status=LeadStatus.CONTACTED,
        status_at=event.occurred_at,
        manual_at=event.occurred_at,
        manual_id=event.event_id,
        verdict_run=state.verdict_run,
    )


def apply(state: LeadState, event: Event) -> LeadState:
    """Effect of ``event`` on one lead it names; events that do not concern status return ``state``."""
    if isinstance(event, LeadStatusChanged):
        return _apply_manual(state, event)
    if isinstance(event, InboundReclassified):
        return _apply_overturned(state, event)
    if isinstance(event, LeadValidated):
        return _apply_verdict(state, event)
    target = _automatic_target(event)
    if target is None:
        return state
    at = event.occurred_at
    if state.manual_at is not None and at < state.manual_at:
        return state
    return _settled(state, _apply_fact(state.base, target, at), state.verdict_run, state.verdict_invalid_at)


_NEW_LEAD: Final = LeadState()


def fold(events: Iterable[Event], state: LeadState = _NEW_LEAD) -> LeadState:
    for event in events:
        state = apply(state, event)
    return state


def stops_sequence(event: Event, *, stop_on_reply: bool = True) -> bool:
    """Whether `event` ends the sequence of its lead (of every lead it names) in its campaign.

    One rule for the sequencer, which stops the lead's progress, and the mailer, which drops the lead's
    queued send: a reply (when the campaign stops on replies), a hard bounce, an unsubscribe, an invalid
    verdict, a send given up, a removal, a person setting a terminal status or Completed, or the sequencer's
    own stop of a lead whose company replied (`SequenceStopped`). A person setting Pending or Contacted does
    not restart a stopped sequence.
    """
    match event:
        case ReplyDetected():
            return stop_on_reply
        case (
            EmailBounced(kind="hard") | LeadUnsubscribed() | SendFailed() | LeadsRemoved() | SequenceStopped()
        ):
            return True
        case LeadValidated(verdict=Verdict.INVALID):
            return True
        case LeadStatusChanged(status=status):
            return status in TERMINAL or status is LeadStatus.COMPLETED
        case _:
            return False
