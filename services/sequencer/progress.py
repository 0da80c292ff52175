"""A lead's progress through its campaign's steps: pure transitions, no I/O. The clock is passed in.

States: `waiting` (not sendable yet, or the campaign was never activated), `scheduled` (step `next_step`
is due at `due_at`), `due` (its StepDue was emitted, no EmailSent yet), `completed`, `stopped`
(`stop_reason`), `uncertain` (the mailer cannot tell whether the step went out: never continued
automatically) and `not_sendable` (the step names a variable the lead lacks: `missing`).

An out-of-office with a return date holds the lead (`held`): `not_before` is kept on its progress, and
every step scheduled while it lasts (at the hold, after a send, or tried again) is due no earlier.

Events reach the sequencer out of order (a verdict may come before the import, a reply before the send
it answers): every transition takes the progress as it is and never moves a stopped or completed lead
back, so any order of the same events ends in the same state. Two stops are withdrawn, each by its own
later fact: an invalid verdict by a later validation run (`validated`), a reply or a hard bounce by a person
overturning it in the Unibox (`resumed`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from uuid import UUID

from contracts import Verdict


class LeadState(StrEnum):
    WAITING = "waiting"
    SCHEDULED = "scheduled"
    DUE = "due"
    COMPLETED = "completed"
    STOPPED = "stopped"
    UNCERTAIN = "uncertain"
    NOT_SENDABLE = "not_sendable"


# States a lead never leaves on its own (a stop or completion is final).
FINAL = frozenset({LeadState.COMPLETED, LeadState.STOPPED})
# Why a sequence stopped; "failed" is a send the mailer gave up on (counted apart in the step counts).
STOP_FAILED = "failed"
STOP_INVALID = "invalid"
STOP_REPLIED = "replied"
STOP_BOUNCED = "bounced"
# Both a reply and a hard bounce stopped it: overturning either alone does not resume it.
STOP_REPLIED_AND_BOUNCED = "replied and bounced"
# Another lead at the same company replied (the campaign's `stop_on_company_reply`).
STOP_COMPANY_REPLIED = "company replied"
# Stops a person may overturn in the Unibox (`resumed`); each gives way to a stop nobody overturns.
OVERTURNABLE = frozenset({STOP_REPLIED, STOP_BOUNCED, STOP_REPLIED_AND_BOUNCED})


@dataclass(frozen=True)
class Plan:
    """What a campaign says about its leads' progress."""

    delays: tuple[int, ...]  # each step's delay in minutes; its length is the number of steps
    activated_at: datetime | None  # None: never activated, so nothing is scheduled yet
    wait_for_validation: bool = True
    send_to_unknown: bool = True
    zone: tzinfo = UTC  # the schedule's time zone: where a return date's days begin and end

    @property
    def total_steps(self) -> int:
        return len(self.delays)


@dataclass(frozen=True)
class Progress:
    imported: bool = False  # False: only a verdict is known so far
    verdict: Verdict | None = None
    verdict_run: int | None = None
    state: LeadState = LeadState.WAITING
    next_step: int = 1
    due_at: datetime | None = None
    sendable_at: datetime | None = None
    message_ids: tuple[str, ...] = ()
    thread_mailbox_id: UUID | None = None
    stop_reason: str | None = None
    missing: tuple[str, ...] = ()
    not_before: datetime | None = None  # an out-of-office's hold: no step is due earlier
    last_sent_at: datetime | None = None  # the EmailSent of the last step in `message_ids`
    stopped_from: LeadState | None = None  # the state a stop found (what `resumed` goes back from)


NEW = Progress()


def _held(due: datetime, progress: Progress) -> datetime:
    """`due`, or the lead's hold when that is later."""
    return due if progress.not_before is None else max(due, progress.not_before)


def sendable(progress: Progress, plan: Plan) -> bool:
    """Valid, or unknown with send_to_unknown; never invalid; no verdict yet only without
    wait_for_validation. A lead known only from its verdict is not sendable until it is imported."""
    if not progress.imported:
        return False
    match progress.verdict:
        case Verdict.VALID:
            return True
        case Verdict.UNKNOWN:
            return plan.send_to_unknown
        case Verdict.INVALID:
            return False
        case _:
            return not plan.wait_for_validation


def first_due(sendable_at: datetime, plan: Plan) -> datetime | None:
    """Step 1's due time: its delay after the later of becoming sendable and the campaign's activation."""
    if plan.activated_at is None or not plan.delays:
        return None
    return max(sendable_at, plan.activated_at) + timedelta(minutes=plan.delays[0])


def settle(progress: Progress, now: datetime, plan: Plan) -> Progress:
    """A waiting lead that is sendable (from `now`, if not before) gets step 1 scheduled, once the
    campaign has been activated."""
    if progress.state is not LeadState.WAITING or not sendable(progress, plan):
        return progress
    since = progress.sendable_at or now
    due = first_due(since, plan)
    if due is None:
        return replace(progress, sendable_at=since)
    return replace(
        progress, sendable_at=since, state=LeadState.SCHEDULED, next_step=1, due_at=_held(due, progress)
    )


def imported(progress: Progress, now: datetime, plan: Plan) -> Progress:
    return settle(replace(progress, imported=True), now, plan)


def validated(progress: Progress, verdict: Verdict, run: int, now: datetime, plan: Plan) -> Progress:
    """The verdict of the latest validation run counts; an invalid one stops the sequence, and a later
    run's valid or unknown verdict withdraws that stop (unless a step was sent meanwhile)."""
    if progress.verdict_run is not None and run < progress.verdict_run:
        return progress
    progress = replace(progress, verdict=verdict, verdict_run=run)
    if verdict is Verdict.INVALID:
        return stopped(progress, STOP_INVALID)
    if (
        progress.state is LeadState.STOPPED
        and progress.stop_reason == STOP_INVALID
        and not progress.message_ids
    ):
        # A later run withdrew the invalid verdict (the lead's status fold does the same): the lead is
        # back where the verdict found it, before any send.
        progress = replace(
            progress, state=LeadState.WAITING, stop_reason=None, stopped_from=None, next_step=1
        )
    return settle(progress, now, plan)


def stop_reason_after(current: str | None, reason: str) -> str | None:
    """The reason a lead already stopped for `current` keeps when `reason` stops it again. A stop that may
    be withdrawn gives way to one that may not, so withdrawing the first never resumes a lead the second
    still stops: an invalid verdict's (which a later run withdraws) to any other; a reply's or a hard
    bounce's (which a person may overturn) to any but an invalid verdict (the lead's verdict is checked
    when it resumes), and the two together to `STOP_REPLIED_AND_BOUNCED`. Otherwise the first stop's
    reason stays. The result is the same whichever of two stops comes first."""
    if current is None or current == reason:
        return reason
    if current == STOP_INVALID:
        return reason
    if current in OVERTURNABLE and reason != STOP_INVALID:
        return STOP_REPLIED_AND_BOUNCED if reason in OVERTURNABLE else reason
    return current


def stopped(progress: Progress, reason: str) -> Progress:
    """Stopped for good, remembering the state the stop found; a lead stopped already keeps its stop,
    its reason as `stop_reason_after` says. A completed lead stays completed."""
    if progress.state is LeadState.STOPPED:
        return replace(progress, stop_reason=stop_reason_after(progress.stop_reason, reason))
    if progress.state in FINAL:
        return progress
    return replace(
        progress, state=LeadState.STOPPED, stop_reason=reason, due_at=None, stopped_from=progress.state
    )


def resumed(progress: Progress, reason: str, now: datetime, plan: Plan) -> Progress:
    """A person overturned the reply (`reason` "replied") or the hard bounce ("bounced") that stopped the
    lead, at `now`: it goes on as if that stop had not been. Only a lead stopped for exactly that reason
    resumes; one stopped (too) by anything nobody overturns — an unsubscribe, a person's status, a send
    given up, its company's reply, a reply and a bounce together — keeps its stop (`stop_reason_after`).
    An invalid verdict keeps the lead stopped, by the verdict now (a later run may still withdraw it).

    Otherwise, from the state the stop found: an uncertain step whose send is still unknown is uncertain
    again (never sent again automatically); a lead sent nothing yet waits and is scheduled as `settle`
    would; one sent every step is completed; any other is scheduled for the step after the last one sent,
    its delay after that send (after `now` when that send's time is not known), or at its hold if later.
    The next step is always past `message_ids`: no step sent comes again."""
    if (
        progress.state is not LeadState.STOPPED
        or progress.stop_reason != reason
        or reason not in (STOP_REPLIED, STOP_BOUNCED)
        or not plan.delays
    ):
        return progress
    if progress.verdict is Verdict.INVALID:
        return replace(progress, stop_reason=STOP_INVALID)
    going_on = replace(progress, stop_reason=None, stopped_from=None, missing=())
    sent_steps = len(progress.message_ids)
    if progress.stopped_from is LeadState.UNCERTAIN and sent_steps < progress.next_step:
        return replace(going_on, state=LeadState.UNCERTAIN)
    if not sent_steps:
        return settle(replace(going_on, state=LeadState.WAITING, next_step=1, due_at=None), now, plan)
    if sent_steps >= plan.total_steps:
        return replace(going_on, state=LeadState.COMPLETED, next_step=sent_steps, due_at=None)
    due = (progress.last_sent_at or now) + timedelta(minutes=plan.delays[sent_steps])
    return replace(going_on, state=LeadState.SCHEDULED, next_step=sent_steps + 1, due_at=_held(due, progress))


@dataclass(frozen=True)
class Sent:
    progress: Progress
    completed: bool  # the last step was sent just now: emit LeadCompleted


def sent(
    progress: Progress, step: int, message_id: str, mailbox_id: UUID, sent_at: datetime, plan: Plan
) -> Sent:
    """Step `step` went out: its Message-ID joins the thread; the next step is scheduled its delay after
    the send, or the lead is completed after the last one. A repeated EmailSent changes nothing; a send
    of a stopped lead (a reply crossed it) is kept in the thread, the lead stays stopped."""
    if step <= len(progress.message_ids) or step < progress.next_step:
        return Sent(progress, completed=False)
    progress = replace(
        progress,
        message_ids=(*progress.message_ids, message_id),
        thread_mailbox_id=progress.thread_mailbox_id or mailbox_id,
        last_sent_at=sent_at,
    )
    if progress.state in FINAL:
        return Sent(progress, completed=False)
    if step >= plan.total_steps:
        done = replace(progress, state=LeadState.COMPLETED, next_step=step, due_at=None, missing=())
        return Sent(done, completed=True)
    due = _held(sent_at + timedelta(minutes=plan.delays[step]), progress)
    return Sent(
        replace(progress, state=LeadState.SCHEDULED, next_step=step + 1, due_at=due, missing=()),
        completed=False,
    )


def uncertain(progress: Progress, step: int) -> Progress:
    """The mailer cannot tell whether the step went out: the lead waits for a person (or a late
    EmailSent), never sent again automatically."""
    if progress.state is not LeadState.DUE or progress.next_step != step:
        return progress
    return replace(progress, state=LeadState.UNCERTAIN)


def emitted(progress: Progress, missing: tuple[str, ...]) -> Progress:
    """The emission pass took the scheduled step: its StepDue is out (`due`), or the lead lacks
    `missing` variables (`not_sendable`, re-evaluated when the sequence changes)."""
    if progress.state is not LeadState.SCHEDULED:
        return progress
    if missing:
        return replace(progress, state=LeadState.NOT_SENDABLE, missing=missing)
    return replace(progress, state=LeadState.DUE, missing=())


def reconsidered(progress: Progress, now: datetime) -> Progress:
    """A not-sendable lead after its campaign's sequence changed: its step is tried again, at once (or
    when its hold ends)."""
    if progress.state is not LeadState.NOT_SENDABLE:
        return progress
    due = _held(min(progress.due_at or now, now), progress)
    return replace(progress, state=LeadState.SCHEDULED, due_at=due, missing=())


def return_hold(return_date: date, zone: tzinfo) -> datetime:
    """When a lead back on `return_date` may be written to again: the start of the next day in `zone`
    (the campaign's schedule's), in UTC. They spend the return day catching up, so its next step waits for
    the day after; a campaign without a schedule counts days in UTC."""
    day = min(return_date, date.max - timedelta(days=1)) + timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def held(progress: Progress, until: datetime, now: datetime) -> Progress:
    """An automatic answer (an out-of-office) never stops the sequence, but its return holds the lead: no
    step is due before `until`. A scheduled step due earlier moves to `until` (one due later stays); the
    hold is kept (`not_before`), so a step scheduled afterwards waits too: after a send the auto-reply
    overtook, or after a step already handed to the mailer (which still goes out). A stopped or completed lead, or an `until` not after
    `now` (the auto-reply's time: a return date already past), changes nothing. Holds only lengthen, so any
    order of the same auto-replies (or one delivered again) ends the same way."""
    if progress.state in FINAL or until <= now:
        return progress
    if progress.not_before is not None and until <= progress.not_before:
        return progress
    due = progress.due_at
    if progress.state is LeadState.SCHEDULED and due is not None:
        due = max(due, until)
    return replace(progress, not_before=until, due_at=due)


def auto_replied(progress: Progress, return_date: date | None, now: datetime, plan: Plan) -> Progress:
    """An auto-reply that arrived at `now`: with a return date, the lead waits for the day after it in the
    campaign's time zone (`held`); without one, nothing changes."""
    if return_date is None:
        return progress
    return held(progress, return_hold(return_date, plan.zone), now)


def next_send(progress: Progress, plan: Plan) -> tuple[int, datetime | None] | None:
    """The leads table's "next send": the step and its due time (None: waiting), or None when the lead
    has no next send (due, stopped, completed, uncertain, not sendable) or the campaign has no steps."""
    if progress.state is LeadState.SCHEDULED and progress.next_step <= plan.total_steps:
        return progress.next_step, progress.due_at
    if progress.state is LeadState.WAITING and plan.total_steps and progress.imported:
        return progress.next_step, None
    return None
