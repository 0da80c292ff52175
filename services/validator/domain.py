"""A lead's place in the validator's queue, and what a verification pass decides for it. No I/O.

A pass's result is either the lead's verdict (done, announced in a `LeadsValidated`) or another pass
later: a retried answer (greylisting, a timeout) on the retry schedule, or a hold while the validator
itself looks at fault. `decide` makes that call for a batch, and returns what to store and which events to
emit; the runner stores it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from contracts.events import MAX_BATCH, LeadsValidated, ValidatedLead
from services.validator.verdicts import Reason, Result


def parse_retry_schedule(text: str) -> tuple[float, ...]:
    """`"30,120,600"` → seconds to wait before each greylisting retry; empty means no retries."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        delays = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"a retry schedule is comma-separated seconds, not {text!r}") from None
    if any(d < 0 for d in delays):
        raise ValueError(f"retry delays cannot be negative: {text!r}")
    return delays


class ValidationState(StrEnum):
    """A lead's place in the queue (`validator.validations.state`): queued until a worker claims it for a
    pass, probing under that claim's lease, then done, or queued again for a later pass."""

    QUEUED = "queued"
    PROBING = "probing"
    DONE = "done"


class HoldCause(StrEnum):
    """Which part of the validator itself looked at fault when a lead was held."""

    PROBER = "prober"
    DNS = "dns"


HOLD_CAUSE: Final[Mapping[Reason, HoldCause]] = {
    Reason.PROBER_BLOCKED: HoldCause.PROBER,
    Reason.DNS_UNHEALTHY: HoldCause.DNS,
}
# Answers that are not final on a first pass: verified again on the retry schedule.
RETRIED: Final = frozenset(
    {
        Reason.GREYLISTED,
        Reason.MX_UNREACHABLE,
        Reason.SMTP_TIMEOUT,
        Reason.TEMPORARY_FAILURE,
        Reason.DNS_TIMEOUT,
        Reason.DNS_ERROR,
    }
)


@dataclass(frozen=True)
class Claimed:
    """A lead a worker claimed for one verification pass."""

    lead_id: uuid.UUID
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    email: str
    attempts: int
    run: int
    # The claim's `locked_until`: one value per claiming transaction, so it also tells this claim from a
    # later one of the same lead (after this worker's lease ran out).
    token: datetime

    @property
    def row_id(self) -> uuid.UUID:
        return self.lead_id


@dataclass(frozen=True)
class Requeue:
    """Verify the lead again after `wait_seconds`; `held_for` set when our own fault held it."""

    attempts: int
    wait_seconds: float
    held_for: HoldCause | None = None


def next_step(
    result: Result,
    attempts: int,
    retry_schedule: Sequence[float],
    held_waits: Mapping[HoldCause, float],
) -> Result | Requeue:
    """What to do with one pass's result: the lead's verdict (`Result`), or another pass later.

    A held lead keeps its attempts (our fault is not the domain's) and waits `held_waits[cause]`; a
    retried answer waits the next delay of the schedule and becomes the verdict once it is used up.
    """
    cause = HOLD_CAUSE.get(result.reason)
    if cause is not None:
        return Requeue(attempts, held_waits[cause], cause)
    if result.reason in RETRIED and attempts < len(retry_schedule):
        return Requeue(attempts + 1, retry_schedule[attempts])
    return result


VALIDATED_NAMESPACE: Final = uuid.UUID("0c6f3b1e-8d2a-4f51-9c77-3a5e2b9d1f04")


def validated_event_id(campaign_id: uuid.UUID, leads: Iterable[tuple[uuid.UUID, int]]) -> uuid.UUID:
    """Derived from the campaign and its (lead, run) pairs: a batch recorded twice is one event."""
    key = ",".join(f"{lead}:{run}" for lead, run in sorted(leads))
    return uuid.uuid5(VALIDATED_NAMESPACE, f"{campaign_id}|{key}")


def verdict_events(verdicts: Sequence[tuple[Claimed, Result]]) -> list[LeadsValidated]:
    """One `LeadsValidated` per campaign (≤ MAX_BATCH verdicts each, in the order given)."""
    by_campaign: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[Claimed, Result]]] = {}
    for lead, result in verdicts:
        by_campaign.setdefault((lead.workspace_id, lead.campaign_id), []).append((lead, result))
    events: list[LeadsValidated] = []
    for (workspace_id, campaign_id), pairs in by_campaign.items():
        for start in range(0, len(pairs), MAX_BATCH):
            chunk = pairs[start : start + MAX_BATCH]
            events.append(
                LeadsValidated(
                    event_id=validated_event_id(campaign_id, ((c.lead_id, c.run) for c, _ in chunk)),
                    workspace_id=workspace_id,
                    campaign_id=campaign_id,
                    leads=[
                        ValidatedLead(
                            lead_id=lead.lead_id,
                            email=lead.email,
                            verdict=result.verdict,
                            reason=result.reason.value,
                            mx=result.mx,
                            smtp_code=result.smtp_code,
                            catch_all=result.catch_all,
                            disposable=result.disposable,
                            role=result.role,
                            run=lead.run,
                        )
                        for lead, result in chunk
                    ],
                )
            )
    return events


@dataclass(frozen=True)
class Done:
    """A lead verified for good: its verdict is stored and announced."""

    lead: Claimed
    result: Result


@dataclass(frozen=True)
class Again:
    """A lead queued for another pass."""

    lead: Claimed
    requeue: Requeue


@dataclass(frozen=True)
class PassDecision:
    """What a pass's results come to: the leads done, those queued again, and the events to emit."""

    done: list[Done]
    again: list[Again]
    events: list[LeadsValidated]

    @property
    def held(self) -> int:
        return sum(1 for a in self.again if a.requeue.held_for is not None)


def decide(
    results: Sequence[tuple[Claimed, Result]],
    retry_schedule: Sequence[float],
    held_waits: Mapping[HoldCause, float],
) -> PassDecision:
    """Each lead's next step (`next_step`), and one `LeadsValidated` per campaign for the verdicts."""
    done: list[Done] = []
    again: list[Again] = []
    for lead, result in results:
        step = next_step(result, lead.attempts, retry_schedule, held_waits)
        if isinstance(step, Requeue):
            again.append(Again(lead, step))
        else:
            done.append(Done(lead, step))
    return PassDecision(done, again, verdict_events([(d.lead, d.result) for d in done]))
