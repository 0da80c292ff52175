"""The classifier's rules, table-driven and with hypothesis: hard or soft by the enhanced status and the
words; any bytes at all give a kind and never an error; headers decide before wording; quoted text never
makes a person's reply an auto-reply."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.inbox.bounces import decide
from services.inbox.classify import KINDS, classify
from services.runtime.thread_index import conversation_for, thread_index


@pytest.mark.parametrize(
    ("status", "code", "diagnostic", "kind", "policy"),
    [
        ("5.1.1", 550, "550 5.1.1 <a@b.cz>: Recipient address rejected", "hard_bounce", False),
        ("5.1.10", 550, "RESOLVER.ADR.RecipientNotFound", "hard_bounce", False),
        ("5.1.2", 550, "Host or domain name not found", "hard_bounce", False),
        ("5.2.1", 550, "mailbox disabled", "hard_bounce", False),
        ("5.1.0", 550, "#5.1.0 Address rejected", "hard_bounce", False),
        # About our sender's address, not the lead's.
        ("5.1.7", 550, "bad sender's mailbox address syntax", "soft_bounce", False),
        ("5.1.8", 553, "sender address rejected: domain not found", "soft_bounce", False),
        ("5.2.2", 552, "Mailbox full", "soft_bounce", False),
        ("4.2.2", 452, "Mailbox full; delivery failed", "soft_bounce", False),
        ("4.4.1", None, "connection timed out", "soft_bounce", False),
        ("4.1.1", 450, "user unknown (temporary lookup failure)", "soft_bounce", False),
        ("5.7.1", 550, "Message rejected as spam", "soft_bounce", True),
        ("5.7.26", 550, "Unauthenticated email is not accepted (DMARC)", "soft_bounce", True),
        ("5.7.1", 550, "5.7.1 User unknown", "soft_bounce", True),
        ("5.4.4", 550, "Unable to route", "soft_bounce", False),
        ("5.0.0", 550, "User unknown", "hard_bounce", False),
        ("5.0.0", 550, "Uživatel neexistuje", "hard_bounce", False),
        ("5.0.0", 550, "Empfänger unbekannt", "hard_bounce", False),
        ("5.0.0", 554, "Transaction failed", "soft_bounce", False),
        ("5.5.0", 550, "Requested action not taken: mailbox unavailable", "soft_bounce", False),
        (None, 550, "No such user here", "hard_bounce", False),
        (None, 550, "Requested action not taken", "soft_bounce", False),
        (None, 451, "Temporary local problem", "soft_bounce", False),
        (None, None, "The message could not be delivered", "soft_bounce", False),
        (None, None, "The email account that you tried to reach does not exist", "hard_bounce", False),
        (None, None, "User jan not listed in Domino Directory", "hard_bounce", False),
        # A guess is not a statement.
        (None, 550, "The group may not exist, or you do not have permission to post", "soft_bounce", False),
        (None, None, "Skupina možná neexistuje, nebo nemáte oprávnění", "soft_bounce", False),
    ],
)
def test_hard_or_soft(status: str | None, code: int | None, diagnostic: str, kind: str, policy: bool) -> None:
    got_kind, rule, got_policy = decide(status, code, diagnostic)
    assert (got_kind, got_policy) == (kind, policy), rule


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_give_a_kind(raw: bytes) -> None:
    assert classify(raw).kind in KINDS


header_names = st.sampled_from(
    [
        "Subject",
        "From",
        "To",
        "Content-Type",
        "Auto-Submitted",
        "Precedence",
        "In-Reply-To",
        "References",
        "X-Failed-Recipients",
        "Content-Transfer-Encoding",
        "MIME-Version",
    ]
)
header_values = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00"), max_size=80
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(header_names, header_values), max_size=12), st.text(max_size=2000))
def test_any_message_shaped_input_gives_a_kind(headers: list[tuple[str, str]], body: str) -> None:
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n" + body
    got = classify(raw.encode("utf-8", errors="surrogatepass"))
    assert got.kind in KINDS and got.rule


def person(body: str, **headers: str) -> bytes:
    fields = {
        "From": "Jana Dvořáková <jana@klient.cz>",
        "To": "ana@firma.cz",
        "Subject": "Re: Nabídka spolupráce",
        "Message-ID": "<reply-1@klient.cz>",
        "In-Reply-To": "<0b9c3a8e-5f1d-4c47-9a51-2f3e8d6c7b10@firma.cz>",
        "Content-Type": 'text/plain; charset="utf-8"',
    } | headers
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n" + body).encode()


AUTO_QUOTES = [
    "I am out of the office until 12 January with limited access to email.",
    "Jsem mimo kancelář do 12. 1. V naléhavých případech se obraťte na kolegu.",
    "Ich bin bis zum 12.01. nicht im Büro und ab dem 13.01. wieder erreichbar.",
    "Automatic reply: this is an automated response.",
]


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(categories=["L", "Zs"]), min_size=1, max_size=200),
    st.sampled_from(AUTO_QUOTES),
    st.sampled_from(
        [
            "On Mon, 7 Dec 2026 at 09:12, Ana Nováková <ana@firma.cz> wrote:\n> {q}\n",
            "Dne po 7. 12. 2026 v 9:12 Ana Nováková <ana@firma.cz> napsal(a):\n> {q}\n",
            "Am 07.12.2026 um 09:12 schrieb Ana Nováková <ana@firma.cz>:\n> {q}\n",
            "-----Original Message-----\nFrom: Ana\nSent: Monday\n\n{q}\n",
        ]
    ),
)
def test_quoted_out_of_office_words_never_make_a_reply_automatic(words: str, quote: str, form: str) -> None:
    """What a message is does not change when an out-of-office text is quoted under it."""
    alone = classify(person(words))
    got = classify(person(f"{words}\n\n" + form.format(q=quote)))
    assert got.kind == alone.kind
    assert got.in_reply_to == "<0b9c3a8e-5f1d-4c47-9a51-2f3e8d6c7b10@firma.cz>"


@pytest.mark.parametrize(
    "words",
    ["Add me to the guest list, please.", "Is your whitelist the reason?", "Haben Sie eine Whitelist?"],
)
def test_one_challenge_word_in_a_persons_reply_is_not_a_challenge(words: str) -> None:
    assert classify(person(words)).kind == "reply"


@pytest.mark.parametrize("quote", AUTO_QUOTES)
def test_the_same_words_of_its_own_are_an_auto_reply(quote: str) -> None:
    assert classify(person(quote, Subject="Nabídka spolupráce")).kind == "auto_reply"


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ({"Auto-Submitted": "auto-replied"}, "header.auto_submitted"),
        ({"Auto-Submitted": "auto-generated"}, "header.auto_submitted"),
        ({"X-Autoreply": "yes"}, "header.x_autoreply"),
        ({"X-Autorespond": "Vacation"}, "header.x_autorespond"),
        ({"Precedence": "auto_reply"}, "header.precedence"),
        ({"Precedence": "bulk"}, "header.precedence"),
        ({"Precedence": "junk"}, "header.precedence"),
        ({"X-MS-Exchange-Inbox-Rules-Loop": "jana@klient.cz"}, "header.exchange_inbox_rule"),
    ],
)
def test_a_header_makes_any_text_an_auto_reply(headers: dict[str, str], rule: str) -> None:
    got = classify(person("Děkujeme, ozveme se.", **headers))
    assert (got.kind, got.rule) == ("auto_reply", rule)


def test_auto_submitted_no_is_a_person() -> None:
    assert classify(person("Děkujeme, ozveme se.", **{"Auto-Submitted": "no"})).kind == "reply"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "<0b9c3a8e-5f1d-4c47-9a51-2f3e8d6c7b10@firma.cz>"),
        ({"In-Reply-To": "", "References": "<a@firma.cz> <b@firma.cz>"}, "<b@firma.cz>"),
        ({"In-Reply-To": "", "X-MS-Exchange-Parent-Message-Id": "<p@firma.cz>"}, "<p@firma.cz>"),
        ({"In-Reply-To": ""}, None),
    ],
)
def test_what_a_reply_answers(headers: dict[str, str], expected: str | None) -> None:
    assert classify(person("Ano, pošlete podklady.", **headers)).in_reply_to == expected


OURS = "<0b9c3a8e-5f1d-4c47-9a51-2f3e8d6c7b10@firma.cz>"
OUR_INDEX = thread_index(OURS, 1)
BOUNCE_WITH_INDEX = (
    "From: Mail Delivery System <MAILER-DAEMON@mx.klient.cz>\r\nTo: ana@firma.cz\r\n"
    f"Subject: Undeliverable: Nabidka\r\nThread-Index: {OUR_INDEX}\r\n"
    "Content-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
).encode()


@pytest.mark.parametrize(
    ("raw", "conversation"),
    [
        # A reply keeps the conversation of the message it answers, with or without thread headers.
        (person("Ano.", **{"Thread-Index": OUR_INDEX}), conversation_for(OURS)),
        (person("Ano.", **{"In-Reply-To": "", "Thread-Index": OUR_INDEX}), conversation_for(OURS)),
        (person("Jsem mimo kancelář do 12. 1.", **{"Thread-Index": OUR_INDEX}), conversation_for(OURS)),
        (person("Ano."), None),
        (person("Ano.", **{"Thread-Index": "AQ=="}), None),
        (person("Ano.", **{"Thread-Index": "nonsense \x01 here"}), None),
        # A bounce's own index is the bounce's: it is linked by the returned original's Message-ID.
        (BOUNCE_WITH_INDEX, None),
    ],
    ids=["reply", "no-thread-headers", "auto-reply", "none", "short", "garbage", "bounce"],
)
def test_the_conversation_a_message_names(raw: bytes, conversation: UUID | None) -> None:
    assert classify(raw).conversation == conversation


MDN = (
    b"From: Jana <jana@klient.cz>\r\nTo: ana@firma.cz\r\nSubject: Read: Nabidka spoluprace\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=disposition-notification; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\nThe message sent on 7 Dec 2026 was displayed.\r\n"
    b"--b1\r\nContent-Type: message/disposition-notification\r\n\r\n"
    b"Final-Recipient: rfc822; jana@klient.cz\r\n"
    b"Original-Message-ID: <0b9c3a8e-5f1d-4c47-9a51-2f3e8d6c7b10@firma.cz>\r\n"
    b"Disposition: manual-action/MDN-sent-manually; displayed\r\n"
    b"--b1--\r\n"
)
OUTLOOK_READ = (
    b"From: Jana <jana@klient.cz>\r\nTo: ana@firma.cz\r\nSubject: Read: Nabidka spoluprace\r\n"
    b"Content-Type: text/plain\r\n\r\n"
    b"Your message\r\n\r\n  To: Jana\r\n  Subject: Nabidka spoluprace\r\n\r\nwas read on 7. 12. 2026 10:02.\r\n"
)


@pytest.mark.parametrize("raw", [MDN, OUTLOOK_READ], ids=["rfc8098", "outlook"])
def test_a_read_receipt_is_automatic_not_a_reply(raw: bytes) -> None:
    got = classify(raw)
    assert (got.kind, got.rule) == ("auto_reply", "report.read_receipt")


@pytest.mark.parametrize(
    "subject",
    [
        "Undeliverable: Nabidka",
        "Nondeliverable mail",
        "Failed delivery",
        "Mail delivery failed: returning message to sender",
        "Returned mail: see transcript for details",
        "Delivery Status Notification (Failure)",
        "Nedoručitelné: Nabídka",
        "Unzustellbar: Angebot",
        "failure notice",
    ],
)
def test_a_bounce_subject_without_a_report_is_a_bounce_and_soft_when_nothing_says_more(subject: str) -> None:
    raw = (
        f"From: Notices <notices@mx.klient.cz>\r\nTo: ana@firma.cz\r\nSubject: {subject}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nYour message could not be delivered.\r\n"
    ).encode()
    got = classify(raw)
    assert (got.kind, got.rule) == ("soft_bounce", "prose.unknown_format_soft")


def test_a_persons_re_reply_about_a_bounce_is_a_reply() -> None:
    raw = person("My old address bounced, please write to this one.", Subject="Re: Undeliverable: Nabídka")
    assert classify(raw).kind == "reply"


@pytest.mark.parametrize(
    ("from_header", "sender"),
    [
        ("Jana Dvořáková <Jana@Klient.cz>", "jana@klient.cz"),
        ('"Doe, John" <john.doe@example.de>', "john.doe@example.de"),
        ("jan@klient.cz", "jan@klient.cz"),
        ("jan@klient.cz (Jan Novák)", "jan@klient.cz"),
        ("Undisclosed", None),
    ],
)
def test_the_sender_is_the_from_address(from_header: str, sender: str | None) -> None:
    assert classify(person("Ano.", From=from_header)).sender == sender


def test_an_address_closed_for_good_states_no_return() -> None:
    raw = person(
        "Thank you for your email. Please note that this address will be closed on 30 June 2027."
        " Please write to obchod@novafirma.cz.",
        Subject="This address will be closed",
        Date="Mon, 7 Dec 2026 10:00:00 +0100",
    )
    got = classify(raw)
    assert (got.kind, got.return_date) == ("auto_reply", None)
