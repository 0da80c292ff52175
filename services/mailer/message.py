"""The message a send becomes: pure, no I/O.

Its Message-ID names the send (`<send id@mailbox domain>`), so a reply or a bounce leads back to it; a
follow-up carries `In-Reply-To` and `References` to stay in its thread; every message carries the
one-click unsubscribe link (RFC 8058: `List-Unsubscribe` and `List-Unsubscribe-Post`) and a plain-text
part that ends with the same link in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from uuid import UUID

UNSUBSCRIBE_LINE = "Unsubscribe / Odhlásit odběr: {url}"


def message_id_for(send_id: UUID, mailbox_email: str) -> str:
    """The Message-ID of a send, with its angle brackets: the send's id at the mailbox's domain."""
    domain = mailbox_email.rpartition("@")[2] or "localhost"
    return f"<{send_id}@{domain.lower()}>"


def unsubscribe_base(public_url: str | None, http_host: str, http_port: int) -> str:
    """Where the unsubscribe links point: LEADFLOW_PUBLIC_URL, else the gateway's own address."""
    base = public_url or f"http://{http_host}:{http_port}"
    return base.rstrip("/")


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


def build(outgoing: Outgoing) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    user, _, domain = outgoing.from_email.partition("@")
    message["From"] = Address(_one_line(outgoing.from_name), user, domain)
    message["To"] = outgoing.to
    message["Subject"] = _one_line(outgoing.subject)
    message["Date"] = format_datetime(outgoing.date)
    message["Message-ID"] = outgoing.message_id
    if outgoing.in_reply_to:
        message["In-Reply-To"] = outgoing.in_reply_to
    references = [*outgoing.references]
    if outgoing.in_reply_to and outgoing.in_reply_to not in references:
        references.append(outgoing.in_reply_to)
    if references:
        message["References"] = " ".join(references)
    message["List-Unsubscribe"] = f"<{outgoing.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    body = outgoing.body.rstrip("\n")
    text = f"{body}\n\n--\n{UNSUBSCRIBE_LINE.format(url=outgoing.unsubscribe_url)}\n"
    message.set_content(text, subtype="plain", charset="utf-8")
    return message
