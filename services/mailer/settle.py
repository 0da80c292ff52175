"""What the outcome of a delivery means for its send and its mailbox: pure, no I/O.

- 250 → `sent` + EmailSent;
- a 5xx at RCPT → `bounced` + EmailBounced(source="smtp", kind="hard");
- a 5xx at MAIL FROM or after DATA → `failed` + SendFailed("rejected");
- a 4xx, or the connection or the login failing → `queued` again after a backoff that doubles, until the
  send has waited `give_up_after` since it was queued → `failed` + SendFailed("expired");
- the connection lost during DATA → `uncertain` + SendUncertain (never sent again automatically).

A send already made `uncertain` (its lease lapsed while it was being delivered) is settled only by a 250:
then it was sent after all. A mailbox whose deliveries fail `UNHEALTHY_AFTER` times in a row is unhealthy
(probed again after a backoff); its next success makes it healthy again; each change is announced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from contracts import EmailBounced, Event
from contracts.events import EmailSent, MailboxHealthChanged, SendFailed, SendUncertain
from services.mailer.smtp_pool import Delivered, Outcome, Refused, TryLater, Unknown

UNHEALTHY_AFTER: Final = 5
PROBE_FIRST: Final = timedelta(minutes=5)
PROBE_MOST: Final = timedelta(hours=1)


@dataclass(frozen=True)
class RetryPolicy:
    first: timedelta = timedelta(minutes=1)
    most: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(hours=72)

    def wait(self, attempts: int) -> timedelta:
        """The wait before attempt `attempts + 1` (the first retry waits `first`)."""
        doubled: timedelta = self.first * (2 ** min(max(attempts - 1, 0), 20))
        return min(doubled, self.most)


@dataclass(frozen=True)
class SendRow:
    """A claimed send, as the worker holds it."""

    id: UUID
    token: UUID
    workspace_id: UUID
    campaign_id: UUID
    lead_id: UUID
    step: int
    total_steps: int
    email: str
    subject: str
    body: str
    in_reply_to: str | None
    references: Sequence[str]
    preferred_mailbox_id: UUID | None
    attempts: int
    queued_at: datetime

    @property
    def row_id(self) -> UUID:
        return self.id


@dataclass(frozen=True)
class Attempt:
    """A delivery tried: on which mailbox, under which Message-ID, and what came of it."""

    mailbox_id: UUID
    mailbox_email: str
    message_id: str
    outcome: Outcome
    at: datetime


@dataclass(frozen=True)
class Settlement:
    """The send's new columns and the events that announce them."""

    values: dict[str, Any]
    events: tuple[Event, ...] = ()
    mailbox_failed: bool | None = None  # None: the outcome says nothing of the mailbox


def step_fields(row: Any) -> dict[str, Any]:
    """The fields every event about a send's step carries, from its row."""
    return {
        "workspace_id": row.workspace_id,
        "campaign_id": row.campaign_id,
        "lead_id": row.lead_id,
        "step": row.step,
        "total_steps": row.total_steps,
    }


def settle(row: SendRow, state: str, attempt: Attempt, policy: RetryPolicy) -> Settlement:
    """What `attempt` makes of `row`, which is `sending` (or `uncertain`: see the module)."""
    outcome, step = attempt.outcome, step_fields(row)
    base = {"smtp_code": getattr(outcome, "code", None), "last_error": None}
    match outcome:
        case Delivered():
            sent = EmailSent(
                **step,
                message_id=attempt.message_id,
                mailbox=attempt.mailbox_email,
                mailbox_id=attempt.mailbox_id,
                subject=row.subject,
                recipient=row.email,
            )
            return Settlement(base | {"state": "sent", "sent_at": attempt.at}, (sent,), False)
        case _ if state == "uncertain":
            return Settlement({}, (), None)
        case Refused(stage="rcpt", code=code, text=text):
            bounced = EmailBounced(
                workspace_id=row.workspace_id,
                campaign_id=row.campaign_id,
                lead_id=row.lead_id,
                step=row.step,
                source="smtp",
                kind="hard",
                smtp_code=code,
                diagnostic=text,
                email=row.email,
                message_id=attempt.message_id,
                mailbox_id=attempt.mailbox_id,
            )
            return Settlement(base | {"state": "bounced", "last_error": text}, (bounced,), False)
        case Refused(code=code, text=text):
            failed = SendFailed(**step, reason="rejected", smtp_code=code, detail=text)
            return Settlement(base | {"state": "failed", "last_error": text}, (failed,), False)
        case Unknown(text=text):
            uncertain = SendUncertain(
                **step,
                message_id=attempt.message_id,
                mailbox_id=attempt.mailbox_id,
                mailbox=attempt.mailbox_email,
            )
            return Settlement({"state": "uncertain", "last_error": text}, (uncertain,), None)
        case TryLater(code=code, text=text):
            if attempt.at - row.queued_at >= policy.give_up_after:
                expired = SendFailed(**step, reason="expired", smtp_code=code, detail=text)
                return Settlement(base | {"state": "failed", "last_error": text}, (expired,), True)
            again = {
                "state": "queued",
                "attempts": row.attempts + 1,
                "not_before": attempt.at + policy.wait(row.attempts + 1),
                "mailbox_id": None,
                "message_id": None,
            }
            return Settlement(base | {"last_error": text} | again, (), True)
    raise AssertionError(f"unknown outcome {outcome!r}")  # pragma: no cover


@dataclass(frozen=True)
class Health:
    """A mailbox's failures in a row and its health, as `mailer.mailbox_pace` keeps them."""

    failures: int = 0
    healthy: bool = True
    reason: str = ""
    probe_after: datetime | None = None


@dataclass(frozen=True)
class HealthChange:
    health: Health
    events: tuple[Event, ...] = field(default=())


def health_after(
    health: Health, failed: bool, reason: str, now: datetime, workspace_id: UUID, mailbox_id: UUID, email: str
) -> HealthChange:
    if not failed:
        if health.healthy:
            return HealthChange(Health())
        back = MailboxHealthChanged(
            workspace_id=workspace_id, mailbox_id=mailbox_id, email=email, healthy=True, reason=""
        )
        return HealthChange(Health(), (back,))
    failures = health.failures + 1
    if failures < UNHEALTHY_AFTER:
        return HealthChange(Health(failures, health.healthy, health.reason, health.probe_after))
    probe = now + min(PROBE_FIRST * 2 ** min(failures - UNHEALTHY_AFTER, 10), PROBE_MOST)
    words = f"{failures} deliveries in a row failed; the last: {reason}"
    if not health.healthy:
        return HealthChange(Health(failures, False, words, probe))
    down = MailboxHealthChanged(
        workspace_id=workspace_id, mailbox_id=mailbox_id, email=email, healthy=False, reason=words
    )
    return HealthChange(Health(failures, False, words, probe), (down,))
