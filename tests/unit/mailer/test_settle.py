"""What a delivery's outcome makes of its send and its mailbox: table-driven, and the health rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import EmailBounced, Event
from contracts.events import EmailSent, MailboxHealthChanged, SendFailed, SendUncertain
from services.mailer.settle import (
    UNHEALTHY_AFTER,
    Attempt,
    Health,
    RetryPolicy,
    SendRow,
    health_after,
    settle,
)
from services.mailer.smtp_pool import Delivered, Outcome, Refused, TryLater, Unknown

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MAILBOX = uuid.uuid4()
POLICY = RetryPolicy(first=timedelta(minutes=1), most=timedelta(hours=1), give_up_after=timedelta(hours=72))
ROW = SendRow(
    id=uuid.uuid4(),
    token=uuid.uuid4(),
    workspace_id=uuid.uuid4(),
    campaign_id=uuid.uuid4(),
    lead_id=uuid.uuid4(),
    step=2,
    total_steps=3,
    email="jan@example.com",
    subject="Re: Hi",
    body="Again",
    in_reply_to="<a@firma.cz>",
    references=("<a@firma.cz>",),
    preferred_mailbox_id=MAILBOX,
    attempts=0,
    queued_at=NOW - timedelta(hours=1),
)


def attempt(outcome: Outcome, at: datetime = NOW) -> Attempt:
    return Attempt(MAILBOX, "ana@firma.cz", "<s@firma.cz>", outcome, at)


@pytest.mark.parametrize(
    ("outcome", "state", "event", "mailbox_failed"),
    [
        (Delivered(250, "250 OK"), "sent", EmailSent, False),
        (Refused("rcpt", 550, "550 No such user"), "bounced", EmailBounced, False),
        (Refused("mail", 553, "553 Sender refused"), "failed", SendFailed, False),
        (Refused("data", 554, "554 Spam"), "failed", SendFailed, False),
        (Unknown("lost during DATA"), "uncertain", SendUncertain, None),
    ],
)
def test_each_outcome_has_its_state_and_event(
    outcome: Outcome, state: str, event: type, mailbox_failed: bool | None
) -> None:
    settled = settle(ROW, "sending", attempt(outcome), POLICY)
    assert settled.values["state"] == state
    assert [type(e) for e in settled.events] == [event]
    assert settled.mailbox_failed is mailbox_failed


def test_a_sent_step_names_its_message_and_mailbox() -> None:
    (sent,) = settle(ROW, "sending", attempt(Delivered(250, "250 OK")), POLICY).events
    assert isinstance(sent, EmailSent)
    assert (sent.message_id, sent.mailbox, sent.mailbox_id, sent.subject_line) == (
        "<s@firma.cz>",
        "ana@firma.cz",
        MAILBOX,
        "Re: Hi",
    )
    assert (sent.step, sent.total_steps, sent.lead_id) == (2, 3, ROW.lead_id)
    assert sent.recipient == "jan@example.com"  # the inbox links a reply without thread headers by it


def test_a_bounce_is_a_hard_smtp_bounce_of_the_step() -> None:
    (bounced,) = settle(ROW, "sending", attempt(Refused("rcpt", 550, "550 No such user")), POLICY).events
    assert isinstance(bounced, EmailBounced)
    assert (bounced.source, bounced.kind, bounced.smtp_code, bounced.step) == ("smtp", "hard", 550, 2)
    assert (bounced.email, bounced.message_id, bounced.mailbox_id) == (
        "jan@example.com",
        "<s@firma.cz>",
        MAILBOX,
    )


def test_a_rejection_says_rejected_with_the_reply() -> None:
    (failed,) = settle(ROW, "sending", attempt(Refused("data", 554, "554 Spam")), POLICY).events
    assert isinstance(failed, SendFailed)
    assert (failed.reason, failed.smtp_code, failed.detail) == ("rejected", 554, "554 Spam")


def test_a_temporary_failure_queues_the_send_again_after_a_backoff() -> None:
    settled = settle(ROW, "sending", attempt(TryLater(451, "451 later")), POLICY)
    assert settled.events == ()
    assert settled.values["state"] == "queued"
    assert settled.values["attempts"] == 1
    assert settled.values["not_before"] == NOW + timedelta(minutes=1)
    assert settled.values["mailbox_id"] is None and settled.mailbox_failed is True


def test_temporary_failures_give_up_after_the_retry_period() -> None:
    late = ROW.queued_at + POLICY.give_up_after
    settled = settle(ROW, "sending", attempt(TryLater(None, "refused"), at=late), POLICY)
    assert settled.values["state"] == "failed"
    (failed,) = settled.events
    assert isinstance(failed, SendFailed) and failed.reason == "expired"


@pytest.mark.parametrize(
    "outcome", [Refused("rcpt", 550, "x"), Refused("data", 554, "x"), TryLater(451, "x"), Unknown("x")]
)
def test_an_uncertain_send_is_changed_only_by_a_250(outcome: Outcome) -> None:
    assert settle(ROW, "uncertain", attempt(outcome), POLICY).values == {}
    assert settle(ROW, "uncertain", attempt(Delivered(250, "OK")), POLICY).values["state"] == "sent"


@given(st.integers(min_value=1, max_value=10_000))
def test_the_backoff_doubles_up_to_its_most(attempts: int) -> None:
    wait = POLICY.wait(attempts)
    assert POLICY.first <= wait <= POLICY.most
    assert POLICY.wait(attempts + 1) >= wait


def test_a_mailbox_is_unhealthy_after_failures_in_a_row_and_healthy_after_a_success() -> None:
    health, events = Health(), list[Event]()
    ids = (ROW.workspace_id, MAILBOX, "ana@firma.cz")
    for n in range(UNHEALTHY_AFTER):
        change = health_after(health, True, "535 login refused", NOW + timedelta(seconds=n), *ids)
        health, events = change.health, events + list(change.events)
    assert not health.healthy and health.probe_after is not None and health.probe_after > NOW
    assert len(events) == 1 and isinstance(events[0], MailboxHealthChanged) and not events[0].healthy
    assert "535 login refused" in events[0].reason
    # Failing again while unhealthy says nothing new; a success says it is healthy again, once.
    again = health_after(health, True, "535", NOW, *ids)
    assert again.events == () and not again.health.healthy
    back = health_after(again.health, False, "", NOW, *ids)
    assert back.health == Health() and len(back.events) == 1 and back.events[0].healthy  # type: ignore[attr-defined]
    assert health_after(back.health, False, "", NOW, *ids).events == ()


def test_a_success_between_failures_starts_the_count_again() -> None:
    ids = (ROW.workspace_id, MAILBOX, "ana@firma.cz")
    health = Health()
    for _ in range(UNHEALTHY_AFTER - 1):
        health = health_after(health, True, "x", NOW, *ids).health
    health = health_after(health, False, "", NOW, *ids).health
    assert health_after(health, True, "x", NOW, *ids).health.healthy
