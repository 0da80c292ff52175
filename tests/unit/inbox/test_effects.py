"""What a message read becomes (services/inbox/effects.py): one event per kind, carrying its send's lead,
campaign and step, and nothing at all for a message linked to no send."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import AutoReplyDetected, EmailBounced, LeadEvent, ReplyDetected, stops_sequence
from services.inbox.classify import KINDS, Kind
from services.inbox.effects import SNIPPET_CHARS, Decided, Send, effects, snippet

SEND = Send(
    message_id="<step-1@leadflow.example>",
    workspace_id=uuid.uuid4(),
    campaign_id=uuid.uuid4(),
    lead_id=uuid.uuid4(),
    step=1,
    mailbox_id=uuid.uuid4(),
    recipient="ana@firma.cz",
)
MESSAGE = Decided(
    id=uuid.uuid4(),
    workspace_id=SEND.workspace_id,
    mailbox_id=SEND.mailbox_id,
    message_id="<in-1@firma.cz>",
    from_address="ana@firma.cz",
    subject="Re: Hi",
    text="Thanks,\n  let's talk.",
    kind="reply",
    rule="default.person",
    status=None,
    smtp_code=None,
    diagnostic="",
    bounced_recipient=None,
    return_date=None,
)


@pytest.mark.parametrize(
    ("kind", "event_type", "stops"),
    [
        ("reply", ReplyDetected, True),
        ("auto_reply", AutoReplyDetected, False),
        ("challenge", AutoReplyDetected, False),
        ("hard_bounce", EmailBounced, True),
        ("soft_bounce", EmailBounced, False),
        ("delayed", None, False),
    ],
)
def test_each_kind_has_its_event_and_only_a_reply_or_a_hard_bounce_stops_the_sequence(
    kind: Kind, event_type: type | None, stops: bool
) -> None:
    events = effects(replace(MESSAGE, kind=kind), SEND)
    if event_type is None:
        assert events == []
        return
    (event,) = events
    assert isinstance(event, event_type)
    assert stops_sequence(event) is stops
    assert isinstance(event, LeadEvent)
    assert (event.workspace_id, event.campaign_id, event.lead_id) == (
        SEND.workspace_id,
        SEND.campaign_id,
        SEND.lead_id,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_message_linked_to_no_send_produces_nothing(kind: Kind) -> None:
    assert effects(replace(MESSAGE, kind=kind), None) == []


def test_a_reply_names_its_send_step_mailbox_rule_and_stored_message() -> None:
    (event,) = effects(MESSAGE, SEND)
    assert isinstance(event, ReplyDetected)
    assert event.in_reply_to == SEND.message_id and event.step == 1
    assert event.message_id == "<in-1@firma.cz>" and event.from_address == "ana@firma.cz"
    assert event.inbox_message_id == MESSAGE.id and event.mailbox_id == SEND.mailbox_id
    assert event.rule == "default.person" and event.snippet == "Thanks, let's talk."
    assert event.subject_line == "Re: Hi"


def test_an_out_of_office_carries_its_return_date_and_a_challenge_none() -> None:
    back = date(2027, 1, 12)
    (oof,) = effects(replace(MESSAGE, kind="auto_reply", return_date=back), SEND)
    assert isinstance(oof, AutoReplyDetected) and oof.return_date == back
    (challenge,) = effects(replace(MESSAGE, kind="challenge", return_date=back), SEND)
    assert isinstance(challenge, AutoReplyDetected) and challenge.return_date is None


def test_a_bounce_names_the_address_sent_to_its_status_and_source() -> None:
    bounce = replace(
        MESSAGE,
        kind="hard_bounce",
        rule="dsn.status",
        status="5.1.1",
        smtp_code=550,
        diagnostic="550 5.1.1 user unknown",
        bounced_recipient="ANA@firma.cz",
    )
    (event,) = effects(bounce, SEND)
    assert isinstance(event, EmailBounced)
    assert (event.source, event.kind, event.email) == ("dsn", "hard", "ana@firma.cz")
    assert (event.status, event.smtp_code, event.rule) == ("5.1.1", 550, "dsn.status")
    assert event.message_id == SEND.message_id and event.step == 1
    # A send indexed without its recipient: the bounce's own failed address.
    (unnamed,) = effects(bounce, replace(SEND, recipient=None))
    assert isinstance(unnamed, EmailBounced) and unnamed.email == "ANA@firma.cz"


def test_a_message_without_a_message_id_still_gets_a_stable_one() -> None:
    (event,) = effects(replace(MESSAGE, message_id=None), SEND)
    assert isinstance(event, ReplyDetected)
    assert event.message_id == f"<inbox-{MESSAGE.id}@leadflow.invalid>"


@given(st.text())
def test_a_snippet_is_one_line_of_at_most_its_length(text: str) -> None:
    short = snippet(text)
    assert len(short) <= SNIPPET_CHARS
    assert "\n" not in short and short == short.strip()
    if len(" ".join(text.split())) <= SNIPPET_CHARS:
        assert short == " ".join(text.split())
