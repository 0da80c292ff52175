"""Sending in the read model, as pure folds: a lead's step and next step, and what a campaign's day counts.

A lead's sequence (the leads table's "Step 2 of 3" and its next send) folds the mailer's and the
sequencer's events: the step is the highest step sent (a late EmailSent never takes it back), and the next
step is the newest fact about it by event time (`as_of`): a LeadsScheduled sets it (campaign_days.py, a
batch at once, unless that step was sent already), an event that ends the lead's sequence or leaves a step
unsent clears it, and a send of that step (or a later one) clears it until the sequencer schedules the
following step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Literal

from contracts import EmailBounced, EmailSent, Event, LeadCompleted, LeadStatus, LeadUnsubscribed
from contracts.events import SendFailed, SendUncertain, StepNotSendable
from contracts.lead_status import stops_sequence

DayCounter = Literal["sent", "bounced", "unsubscribed", "completed"]
DAY_COUNTERS: tuple[DayCounter, ...] = ("sent", "bounced", "unsubscribed", "completed")


@dataclass(frozen=True, slots=True)
class LeadSequence:
    step: int = 0
    total_steps: int = 0
    next_step: int | None = None
    next_step_at: datetime | None = None
    as_of: datetime | None = None

    def _newer(self, at: datetime) -> bool:
        return self.as_of is None or self.as_of <= at

    def cleared(self, at: datetime) -> LeadSequence:
        if not self._newer(at):
            return self
        return replace(self, next_step=None, next_step_at=None, as_of=at)


def sequence_after(sequence: LeadSequence, event: Event) -> LeadSequence:
    """The lead's sequence after one of its events (events that say nothing of it leave it as it is)."""
    match event:
        case EmailSent(step=step, total_steps=total):
            if step >= sequence.step:
                sequence = replace(sequence, step=step, total_steps=total)
            if sequence.next_step is not None and sequence.next_step <= step:
                return replace(sequence, next_step=None, next_step_at=None, as_of=_latest(sequence, event))
            return sequence
        case LeadCompleted() | SendUncertain() | SendFailed() | StepNotSendable():
            return sequence.cleared(event.occurred_at)
        case _ if stops_sequence(event):
            return sequence.cleared(event.occurred_at)
        case _:
            return sequence


def _latest(sequence: LeadSequence, event: Event) -> datetime:
    return event.occurred_at if sequence.as_of is None else max(sequence.as_of, event.occurred_at)


def sequence_label(step: int, total_steps: int) -> str | None:
    """The leads table's Sequence cell: "Step 2 of 3" once a step was sent, else None."""
    if step <= 0 or total_steps <= 0:
        return None
    return f"Step {step} of {total_steps}"


def sequence_goes_on(status: LeadStatus) -> bool:
    """Whether a lead of this status may still be sent a step: not once its status ends the sequence (a
    terminal status, set by an event or a person, or Completed), whatever the last schedule said."""
    return status in (LeadStatus.PENDING, LeadStatus.CONTACTED)


def day_counts(event: Event, before: LeadStatus, after: LeadStatus) -> list[DayCounter]:
    """What the event adds to its campaign's counts of its day: an email sent, a lead that bounced or
    unsubscribed (counted when its status becomes so: a second bounce of the same lead adds nothing), a
    lead that completed the sequence."""
    match event:
        case EmailSent():
            return ["sent"]
        case LeadCompleted():
            return ["completed"]
        case EmailBounced() if before is not LeadStatus.BOUNCED and after is LeadStatus.BOUNCED:
            return ["bounced"]
        case LeadUnsubscribed() if before is not LeadStatus.UNSUBSCRIBED and after is LeadStatus.UNSUBSCRIBED:
            return ["unsubscribed"]
        case _:
            return []


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()
