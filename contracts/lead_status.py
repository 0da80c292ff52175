"""A lead's status as a pure fold over its events.

Automatic events converge: the same set in any order yields the same state. Progress statuses
only move up (Pending < Contacted < Completed); the earliest terminal fact wins, ties broken by a
fixed priority. A manual change is last-writer-wins and hides automatic events older than it.
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
    LeadCompleted,
    LeadImported,
    LeadStatusChanged,
    LeadUnsubscribed,
    LeadValidated,
    ReplyDetected,
    Verdict,
)

__all__ = ["TERMINAL", "LeadState", "LeadStatus", "apply", "fold"]

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
    status: LeadStatus = LeadStatus.PENDING
    status_at: datetime | None = None
    manual_at: datetime | None = None
    manual_id: UUID | None = None

    def __post_init__(self) -> None:
        # Comparing naive with aware datetimes raises, which would make ``apply`` partial.
        for name in ("status_at", "manual_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")


def _automatic_target(event: Event) -> LeadStatus | None:
    match event:
        case LeadImported():
            return LeadStatus.PENDING
        case EmailSent():
            return LeadStatus.CONTACTED
        case LeadCompleted():
            return LeadStatus.COMPLETED
        case LeadValidated(verdict=Verdict.INVALID):
            return LeadStatus.INVALID
        case EmailBounced(kind="hard"):
            return LeadStatus.BOUNCED
        case ReplyDetected():
            return LeadStatus.REPLIED
        case LeadUnsubscribed():
            return LeadStatus.UNSUBSCRIBED
        case _:
            return None


def _apply_manual(state: LeadState, event: LeadStatusChanged) -> LeadState:
    if state.manual_at is not None and (event.occurred_at, event.event_id) <= (
        state.manual_at,
        state.manual_id or _NIL_UUID,
    ):
        return state
    return LeadState(
        status=event.status,
        status_at=event.occurred_at,
        manual_at=event.occurred_at,
        manual_id=event.event_id,
    )


def apply(state: LeadState, event: Event) -> LeadState:
    """Effect of ``event`` on one lead it names; events that do not concern status return ``state``."""
    if isinstance(event, LeadStatusChanged):
        return _apply_manual(state, event)
    target = _automatic_target(event)
    if target is None:
        return state
    at = event.occurred_at
    if state.manual_at is not None and at < state.manual_at:
        return state
    since = state.status_at or _SINCE_FOREVER
    if target in TERMINAL:
        if state.status not in TERMINAL or (at, _PRIORITY[target]) < (since, _PRIORITY[state.status]):
            return replace(state, status=target, status_at=at)
        return state
    if state.status in TERMINAL:
        return state
    status = max(state.status, target, key=_RANK.__getitem__)
    return replace(state, status=status, status_at=max(since, at))


_NEW_LEAD: Final = LeadState()


def fold(events: Iterable[Event], state: LeadState = _NEW_LEAD) -> LeadState:
    for event in events:
        state = apply(state, event)
    return state
