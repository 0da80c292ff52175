"""The message a send becomes: its headers (Message-ID, thread, Outlook's conversation, RFC 8058
unsubscribe) and its text part."""

from __future__ import annotations

import base64
import email
import uuid
from datetime import UTC, datetime
from email import policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.mailer.message import (
    Outgoing,
    build,
    message_id_for,
    thread_topic,
    unsubscribe_base,
    unsubscribe_url,
)
from services.runtime.thread_index import HEADER_BYTES, conversation_for, conversation_guid

SEND = uuid.UUID("6f1c5b0e-6a43-4d0a-9a0c-0c6b9a5e0e01")
URL = "https://leads.example.cz/u/TOKEN"


def outgoing(**changes: object) -> Outgoing:
    fields: dict[str, object] = {
        "message_id": message_id_for(SEND, "ana@Firma.CZ"),
        "from_name": "Ana Nováková",
        "from_email": "ana@firma.cz",
        "to": "jan@example.com",
        "subject": "Dobrý den, Jane",
        "body": "Ahoj,\nmáte chvíli?",
        "date": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        "unsubscribe_url": URL,
    }
    return Outgoing(**(fields | changes))  # type: ignore[arg-type]


def parsed(out: Outgoing) -> email.message.EmailMessage:
    raw = build(out)
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_the_message_id_names_the_send_at_the_mailbox_domain() -> None:
    assert message_id_for(SEND, "ana@Firma.CZ") == f"<{SEND}@firma.cz>"
    assert parsed(outgoing())["Message-ID"] == f"<{SEND}@firma.cz>"


def test_a_first_step_has_the_unsubscribe_headers_and_no_thread() -> None:
    message = parsed(outgoing())
    assert message["List-Unsubscribe"] == f"<{URL}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["In-Reply-To"] is None and message["References"] is None
    assert message["Subject"] == "Dobrý den, Jane"
    assert message["From"].addresses[0].display_name == "Ana Nováková"
    assert message["From"].addresses[0].addr_spec == "ana@firma.cz"
    assert message["To"] == "jan@example.com"


def test_the_text_part_is_utf8_plain_and_ends_with_the_link() -> None:
    message = parsed(outgoing())
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    text = message.get_content().replace("\r\n", "\n")
    assert text.startswith("Ahoj,\nmáte chvíli?")
    assert text.rstrip().endswith(URL)


def test_a_follow_up_threads_on_every_earlier_message() -> None:
    first, second = "<a@firma.cz>", "<b@firma.cz>"
    message = parsed(outgoing(subject="Re: Dobrý den", in_reply_to=second, references=[first, second]))
    assert message["In-Reply-To"] == second
    assert message["References"] == f"{first} {second}"


def test_references_always_hold_the_message_replied_to() -> None:
    message = parsed(outgoing(in_reply_to="<a@firma.cz>", references=[]))
    assert message["References"] == "<a@firma.cz>"


def test_every_step_of_a_leads_thread_names_step_1s_conversation() -> None:
    """Outlook keeps the header block of `Thread-Index` in its reply, whoever answers and whatever thread
    headers survive: the inbox finds the thread by its GUID, which is step 1's throughout."""
    ids = [message_id_for(uuid.uuid4(), "ana@firma.cz") for _ in range(3)]
    steps = [
        parsed(outgoing(message_id=ids[0], subject="Dobrý den, Jane")),
        parsed(
            outgoing(message_id=ids[1], subject="Re: Dobrý den, Jane", in_reply_to=ids[0], references=ids[:1])
        ),
        parsed(
            outgoing(message_id=ids[2], subject="Re: Dobrý den, Jane", in_reply_to=ids[1], references=ids[:2])
        ),
    ]
    indexes = [base64.b64decode(step["Thread-Index"]) for step in steps]
    assert [conversation_guid(step["Thread-Index"]) for step in steps] == [conversation_for(ids[0])] * 3
    assert [len(index) for index in indexes] == [HEADER_BYTES, HEADER_BYTES + 5, HEADER_BYTES + 10]
    assert indexes[2].startswith(indexes[1]) and indexes[1].startswith(indexes[0])
    assert [step["Thread-Topic"] for step in steps] == ["Dobrý den, Jane"] * 3


def test_a_follow_up_with_only_in_reply_to_is_in_that_messages_conversation() -> None:
    message = parsed(outgoing(in_reply_to="<a@firma.cz>", references=[]))
    assert conversation_guid(message["Thread-Index"]) == conversation_for("<a@firma.cz>")
    assert len(base64.b64decode(message["Thread-Index"])) == HEADER_BYTES + 5


@pytest.mark.parametrize(
    ("subject", "topic"),
    [
        ("Dobrý den", "Dobrý den"),
        ("Re: Dobrý den", "Dobrý den"),
        ("RE: re:Re : Dobrý den", "Dobrý den"),
        ("Regarding: rates", "Regarding: rates"),
        ("Re:\n  two\tlines", "two lines"),
        ("", ""),
    ],
)
def test_the_thread_topic_is_the_subject_without_its_re(subject: str, topic: str) -> None:
    assert thread_topic(subject) == topic


@given(st.text(max_size=80))
def test_no_subject_or_name_can_add_a_header(text: str) -> None:
    raw = build(outgoing(subject=text, from_name=text))
    headers = raw.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in headers.split(b"\r\n") if line and line[:1] not in b" \t"]
    assert sorted(names) == sorted(
        [
            b"From",
            b"To",
            b"Subject",
            b"Date",
            b"Message-ID",
            b"Thread-Topic",
            b"Thread-Index",
            b"List-Unsubscribe",
            b"List-Unsubscribe-Post",
            b"Content-Type",
            b"Content-Transfer-Encoding",
            b"MIME-Version",
        ]
    )


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        ("https://leads.example.cz", "https://leads.example.cz"),
        ("https://leads.example.cz/", "https://leads.example.cz"),
        (None, "http://127.0.0.1:8000"),
    ],
)
def test_the_links_base_is_the_public_url_else_the_gateway(public_url: str | None, expected: str) -> None:
    assert unsubscribe_base(public_url, "127.0.0.1", 8000) == expected
    assert unsubscribe_url(expected, "T") == f"{expected}/u/T"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "http://127.0.0.1:8001"),
        ("::", "http://[::1]:8001"),
        ("::1", "http://[::1]:8001"),
        ("leads.internal", "http://leads.internal:8001"),
    ],
)
def test_a_gateway_on_every_interface_is_linked_at_the_loopback(host: str, expected: str) -> None:
    assert unsubscribe_base(None, host, 8001) == expected
