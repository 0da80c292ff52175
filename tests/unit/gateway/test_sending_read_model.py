"""The pure parts of sending in the gateway: a lead's sequence fold, the day counts, the funnel, the
activation's mailbox failures, the unsubscribe pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import EmailBounced, EmailSent, LeadCompleted, LeadStatus, LeadUnsubscribed, ReplyDetected
from contracts.commands import MailboxTestReply, ServerCheck
from contracts.events import Event, SendFailed, SequenceStopped, StepNotSendable
from services.gateway.campaigns.analytics import funnel
from services.gateway.campaigns.mailbox_checks import failure_text
from services.gateway.projection.sending import (
    LeadSequence,
    day_counts,
    sequence_after,
    sequence_goes_on,
    sequence_label,
    utc_day,
)
from services.gateway.unsubscribe.pages import confirmation_page, done_page

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
IDS = {"workspace_id": uuid.uuid4(), "campaign_id": uuid.uuid4(), "lead_id": uuid.uuid4()}


def sent(step: int, minutes: int = 0, total: int = 3) -> EmailSent:
    return EmailSent(
        **IDS,
        occurred_at=T0 + timedelta(minutes=minutes),
        step=step,
        total_steps=total,
        message_id=f"<{step}@x>",
        mailbox="a@x.cz",
        mailbox_id=uuid.UUID(int=1),
    )


SCHEDULED_2 = LeadSequence(step=1, total_steps=3, next_step=2, next_step_at=T0 + timedelta(days=1), as_of=T0)
LATER = T0 + timedelta(hours=1)
EARLIER = T0 - timedelta(hours=1)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (sent(1), SCHEDULED_2),  # a late send of the step before: the schedule stays
        (sent(2, 60), LeadSequence(2, 3, None, None, LATER)),
        (sent(3, 60), LeadSequence(3, 3, None, None, LATER)),
        (
            StepNotSendable(**IDS, occurred_at=LATER, step=2, total_steps=3, missing=["city"]),
            LeadSequence(1, 3, None, None, LATER),
        ),
        (
            SendFailed(**IDS, occurred_at=LATER, step=2, total_steps=3, reason="expired"),
            LeadSequence(1, 3, None, None, LATER),
        ),
        (LeadCompleted(**IDS, occurred_at=LATER, total_steps=3), LeadSequence(1, 3, None, None, LATER)),
        (
            LeadUnsubscribed(**IDS, occurred_at=LATER, email="a@b.cz", source="link"),
            LeadSequence(1, 3, None, None, LATER),
        ),
        (
            ReplyDetected(**IDS, occurred_at=LATER, message_id="<r@x>", from_address="a@b.cz"),
            LeadSequence(1, 3, None, None, LATER),
        ),
        (  # the sequencer stopped it: its company replied
            SequenceStopped(
                **IDS,
                occurred_at=LATER,
                reason="company replied",
                replied_lead_id=uuid.uuid4(),
                domain="x.cz",
            ),
            LeadSequence(1, 3, None, None, LATER),
        ),
        # A stop older than the schedule (delivered late) does not clear it.
        (LeadCompleted(**IDS, occurred_at=EARLIER, total_steps=3), SCHEDULED_2),
    ],
)
def test_what_each_event_does_to_a_lead_scheduled_for_step_2(event: Event, expected: LeadSequence) -> None:
    assert sequence_after(SCHEDULED_2, event) == expected


@given(st.permutations([(1, 0), (2, 10), (3, 20)]))
def test_the_step_is_the_highest_sent_in_any_order(order: list[tuple[int, int]]) -> None:
    sequence = LeadSequence()
    for step, minutes in order:
        sequence = sequence_after(sequence, sent(step, minutes))
    assert (sequence.step, sequence.total_steps) == (3, 3)


@pytest.mark.parametrize(
    ("step", "total", "label"), [(0, 0, None), (0, 3, None), (1, 3, "Step 1 of 3"), (2, 3, "Step 2 of 3")]
)
def test_the_sequence_label(step: int, total: int, label: str | None) -> None:
    assert sequence_label(step, total) == label


def test_only_pending_and_contacted_leads_may_still_be_sent_a_step() -> None:
    assert {s for s in LeadStatus if sequence_goes_on(s)} == {LeadStatus.PENDING, LeadStatus.CONTACTED}


BOUNCE = EmailBounced(**IDS, occurred_at=T0, source="smtp", kind="hard", smtp_code=550, email="a@b.cz")
UNSUBSCRIBE = LeadUnsubscribed(**IDS, occurred_at=T0, email="a@b.cz", source="link")


@pytest.mark.parametrize(
    ("event", "before", "after", "counts"),
    [
        (sent(1), LeadStatus.PENDING, LeadStatus.CONTACTED, ["sent"]),
        (sent(2), LeadStatus.CONTACTED, LeadStatus.CONTACTED, ["sent"]),
        (BOUNCE, LeadStatus.CONTACTED, LeadStatus.BOUNCED, ["bounced"]),
        (BOUNCE, LeadStatus.BOUNCED, LeadStatus.BOUNCED, []),  # the lead's second bounce
        (BOUNCE, LeadStatus.UNSUBSCRIBED, LeadStatus.UNSUBSCRIBED, []),
        (UNSUBSCRIBE, LeadStatus.CONTACTED, LeadStatus.UNSUBSCRIBED, ["unsubscribed"]),
        (UNSUBSCRIBE, LeadStatus.UNSUBSCRIBED, LeadStatus.UNSUBSCRIBED, []),
        (
            LeadCompleted(**IDS, occurred_at=T0, total_steps=3),
            LeadStatus.CONTACTED,
            LeadStatus.COMPLETED,
            ["completed"],
        ),
    ],
)
def test_day_counts(event: Event, before: LeadStatus, after: LeadStatus, counts: list[str]) -> None:
    assert day_counts(event, before, after) == counts


def test_a_day_is_the_utc_day() -> None:
    prague_evening = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert str(utc_day(prague_evening)) == "2026-12-01"


@pytest.mark.parametrize(
    ("highest", "steps", "expected"),
    [
        ({}, 0, []),
        ({}, 2, [(1, 0), (2, 0)]),
        ({1: 5, 2: 3, 3: 1}, 3, [(1, 9), (2, 4), (3, 1)]),
        ({3: 2}, 2, [(1, 2), (2, 2), (3, 2)]),  # sends of a step since removed from the sequence still count
    ],
)
def test_the_funnel(highest: dict[int, int], steps: int, expected: list[tuple[int, int]]) -> None:
    assert [(f.step, f.leads) for f in funnel(highest, steps)] == expected


@given(st.dictionaries(st.integers(1, 20), st.integers(0, 1000)), st.integers(0, 20))
def test_the_funnel_never_grows_and_starts_with_every_lead_sent_to(
    highest: dict[int, int], steps: int
) -> None:
    found = [f.leads for f in funnel(highest, steps)]
    assert found == sorted(found, reverse=True)
    assert (found[0] if found else 0) == sum(highest.values())


def test_a_mailbox_failure_names_the_address_and_what_failed() -> None:
    ok = ServerCheck(ok=True)
    refused = ServerCheck(ok=False, error="SMTP login refused: 535 5.7.8 bad credentials")
    assert failure_text("sales@x.cz", MailboxTestReply(ok=True, smtp=ok, imap=None)) is None
    assert (
        failure_text("sales@x.cz", MailboxTestReply(ok=False, smtp=refused, imap=ok))
        == "sales@x.cz: SMTP login refused: 535 5.7.8 bad credentials"
    )
    both = MailboxTestReply(
        ok=False, smtp=ServerCheck(ok=False), imap=ServerCheck(ok=False, error="no route")
    )
    assert failure_text("a@b.cz", both) == "a@b.cz: SMTP: failed; IMAP: no route"


def test_the_unsubscribe_pages_escape_the_address_and_are_not_indexed() -> None:
    page = confirmation_page("tok_en-1", '"><script>alert(1)</script>@x.cz')
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert page.count("<button") == 1 and 'method="post" action="/u/tok_en-1"' in page
    assert "Odhlásit" in page and "Unsubscribe" in page
    done = done_page("a@b.cz")
    assert "Odhlášení proběhlo" in done and "You are unsubscribed" in done and "<form" not in done
