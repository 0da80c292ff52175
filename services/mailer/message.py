"""The message a send becomes: pure, no I/O.

Its Message-ID names the send (`<send id@mailbox domain>`), so a reply or a bounce leads back to it; a
follow-up carries `In-Reply-To` and `References` to stay in its thread. Every message carries Outlook's
`Thread-Topic` and `Thread-Index`, the latter naming the conversation after the thread's first Message-ID
(services/runtime/thread_index.py), which a reply from Outlook or Exchange keeps even when it loses the
thread headers; and the one-click unsubscribe link (RFC 8058: `List-Unsubscribe` and
`List-Unsubscribe-Post`) and a plain-text part that ends with the same link in words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import quoprimime
from email.header import Header
from email.utils import format_datetime, formataddr
from uuid import UUID

from services.runtime.thread_index import thread_index

UNSUBSCRIBE_LINE = "Unsubscribe / Odhlásit odběr: {url}"
CRLF = "\r\n"
# A header longer than this (or not ASCII) is written as folded encoded words (RFC 5322 allows 998).
MAX_PLAIN_HEADER = 900
_REPLY_PREFIXES = re.compile(r"^(?:re\s*:\s*)+", re.IGNORECASE)


def message_id_for(send_id: UUID, mailbox_email: str) -> str:
    """The Message-ID of a send, with its angle brackets: the send's id at the mailbox's domain."""
    domain = mailbox_email.rpartition("@")[2] or "localhost"
    return f"<{send_id}@{domain.lower()}>"


def unsubscribe_base(public_url: str | None, http_host: str, http_port: int) -> str:
    """Where the unsubscribe links point: LEADFLOW_PUBLIC_URL, else the gateway's own address (a gateway
    bound to every interface is reached at the loopback: `0.0.0.0` is no address to open)."""
    if public_url:
        return public_url.rstrip("/")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(http_host, http_host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{http_port}"


def unsubscribe_url(base: str, token: str) -> str:
    return f"{base}/u/{token}"


@dataclass(frozen=True)
class Outgoing:
    """Everything a message is made of: the sender, the lead, the rendered step, its thread and its link."""

    message_id: str
    from_name: str
    from_email: str
    to: str
    subject: str
    body: str
    date: datetime
    unsubscribe_url: str
    in_reply_to: str | None = None
    references: Sequence[str] = ()


def _one_line(text: str) -> str:
    """Header text on one line: a line break inside a header would start a header of its own."""
    return " ".join(text.split())


def thread_topic(subject: str) -> str:
    """The conversation's topic, as Outlook writes `Thread-Topic`: the subject without its "Re: "."""
    return _REPLY_PREFIXES.sub("", _one_line(subject))


def _header(name: str, value: str) -> str:
    """`Name: value`, as RFC 2047 encoded words (folded) when it is not short ASCII."""
    if value.isascii() and len(name) + len(value) < MAX_PLAIN_HEADER:
        return f"{name}: {value}"
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=CRLF)}"


def build(outgoing: Outgoing) -> bytes:
    """The message as it goes over SMTP (CRLF line ends, a quoted-printable UTF-8 text part).

    Written out directly rather than through `email.message.EmailMessage`, whose header policy costs ~2 ms
    a message (more than its delivery to a local server); the standard library's `formataddr`, `Header`
    and `quoprimime` do the encoding, and the tests read every message back with the `email` package."""
    references = [*outgoing.references]
    if outgoing.in_reply_to and outgoing.in_reply_to not in references:
        references.append(outgoing.in_reply_to)
    lines = [
        f"From: {formataddr((_one_line(outgoing.from_name), outgoing.from_email), charset='utf-8')}",
        f"To: {outgoing.to}",
        _header("Subject", _one_line(outgoing.subject)),
        f"Date: {format_datetime(outgoing.date)}",
        f"Message-ID: {outgoing.message_id}",
    ]
    if outgoing.in_reply_to:
        lines.append(f"In-Reply-To: {outgoing.in_reply_to}")
    if references:
        lines.append("References: " + f"{CRLF} ".join(references))
    # The thread's first message is the first it references (a follow-up references every earlier step).
    root = references[0] if references else outgoing.message_id
    lines += [
        _header("Thread-Topic", thread_topic(outgoing.subject)),
        f"Thread-Index: {thread_index(root, len(references))}",
    ]
    lines += [
        f"List-Unsubscribe: <{outgoing.unsubscribe_url}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
    ]
    body = outgoing.body.replace("\r\n", "\n").rstrip("\n")
    text = f"{body}\n\n--\n{UNSUBSCRIBE_LINE.format(url=outgoing.unsubscribe_url)}\n"
    # quoprimime encodes characters as single bytes: hand it the UTF-8 bytes, one character each.
    encoded = quoprimime.body_encode(text.encode("utf-8").decode("latin-1"), maxlinelen=76, eol=CRLF)
    return (CRLF.join(lines) + CRLF + CRLF + encoded + CRLF).encode("ascii")
