"""What an inbound message is, from its raw bytes alone: a pure function, the rule that decided kept with
the decision (`leadflow inbox classify` prints it; the inbox service stores it).

The order: a bounce or a delay (a delivery report, an MTA's prose, mail from a mailer daemon) — an
auto-reply header on a bounce does not make it an auto-reply; a read receipt (automatic); a challenge
("verify you are human"), which often carries auto-reply headers too; an auto-reply (RFC 3834 and the
servers' headers, then the subject, then the wording of the sender's own text); otherwise a person wrote
back.

Linking: the outbound message a reply answers is its `In-Reply-To`, else the last of its `References`,
else Exchange's `X-MS-Exchange-Parent-Message-Id`; a bounce's is the returned original's `Message-ID`. A
reply's `Thread-Index` names the conversation it belongs to (the inbox matches it to the thread a send
started when no Message-ID it names is ours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from email.message import Message
from typing import get_args
from uuid import UUID

from contracts.events import InboundKind
from services.inbox import autoreply
from services.inbox.bounces import looks_like_bounce, read_bounce
from services.inbox.mime import first_message_id, header, message_ids, own_text, parse, parts
from services.inbox.return_date import message_date, return_date
from services.runtime.thread_index import conversation_guid

# The kinds are the contracts' (events and the Unibox's commands name them).
Kind = InboundKind
KINDS: tuple[Kind, ...] = get_args(InboundKind)

_BRACKETED = re.compile(r"<(?P<address>[^<>\s]+@[^<>\s]+)>")
_BARE = re.compile(r"(?P<address>[^\s<>\"',;:()]+@[^\s<>\"',;:()]+)")


@dataclass(frozen=True)
class Classification:
    kind: Kind
    rule: str
    bounced_recipient: str | None = None
    """The address that failed (bounces and delays only)."""
    in_reply_to: str | None = None
    """The Message-ID (with angle brackets) of the outbound message this one answers or bounces."""
    status: str | None = None
    """The enhanced status code (RFC 3463), when the message states one."""
    smtp_code: int | None = None
    diagnostic: str = ""
    policy: bool = False
    """A bounce for the sending mailbox's policy or reputation (5.7.x), not for the address."""
    sender: str | None = None
    subject: str = ""
    text: str = ""
    """The sender's own text (quoted originals left out)."""
    return_date: date | None = None
    """When an auto-reply says its sender is back (the next step waits until after it)."""
    message_id: str | None = None
    """The message's own Message-ID (with angle brackets)."""
    references: tuple[str, ...] = ()
    """Every Message-ID it names that may be a send of ours, the likeliest first (`in_reply_to` first)."""
    conversation: UUID | None = None
    """The conversation its `Thread-Index` names (replies, auto-replies and challenges; a bounce's own
    index is the bounce's, not the original's)."""

    def as_json(self, file: str) -> dict[str, object]:
        """The fields `leadflow inbox classify` prints, in its order (`return_date` added to the six)."""
        return {
            "file": file,
            "kind": self.kind,
            "bounced_recipient": self.bounced_recipient,
            "in_reply_to": self.in_reply_to,
            "status": self.status,
            "rule": self.rule,
            "return_date": None if self.return_date is None else self.return_date.isoformat(),
        }


def classify(raw: bytes) -> Classification:
    message = parse(raw)
    found = parts(message)
    subject = header(message, "Subject")
    senders = header(message, "From")
    sender = _address(senders)
    if looks_like_bounce(message, found):
        bounce = read_bounce(message, found)
        return Classification(
            kind=bounce.kind,
            rule=bounce.rule,
            bounced_recipient=bounce.recipient,
            in_reply_to=bounce.original_message_id,
            status=bounce.status,
            smtp_code=bounce.smtp_code,
            diagnostic=bounce.diagnostic,
            policy=bounce.policy,
            sender=sender,
            subject=subject,
            text=found.text,
            message_id=first_message_id(header(message, "Message-ID")),
            references=_named(bounce.original_message_id, message),
        )
    own = own_text(found.text)
    kind: Kind
    if found.report_type == "disposition-notification" or autoreply.is_read_receipt(message, subject, own):
        kind, rule = "auto_reply", "report.read_receipt"
    elif autoreply.is_challenge(subject, own):
        kind, rule = "challenge", "wording.challenge"
    elif found_rule := autoreply.auto_headers(message) or autoreply.auto_wording(subject, own):
        kind, rule = "auto_reply", found_rule
    else:
        kind, rule = "reply", "default.person"
    absent = kind == "auto_reply" and rule != "report.read_receipt" and not autoreply.gone_for_good(own)
    back = return_date(own, message_date(header(message, "Date"))) if absent else None
    answers = _answers(message)
    if answers is None and found.disposition:
        # A read receipt names the message it reports on in its own fields.
        answers = first_message_id(" ".join(b.get("original-message-id", "") for b in found.disposition))
    return Classification(
        kind=kind,
        rule=rule,
        in_reply_to=answers,
        sender=sender,
        subject=subject,
        text=own,
        return_date=back,
        message_id=first_message_id(header(message, "Message-ID")),
        references=_named(answers, message),
        conversation=conversation_guid(header(message, "Thread-Index")),
    )


def _named(first: str | None, message: Message) -> tuple[str, ...]:
    """`first`, then the ids of In-Reply-To, References (newest first) and Exchange's parent, once each."""
    named = [
        *([first] if first else []),
        *message_ids(header(message, "In-Reply-To")),
        *reversed(message_ids(header(message, "References"))),
        *message_ids(header(message, "X-MS-Exchange-Parent-Message-Id")),
    ]
    return tuple(dict.fromkeys(named))


def _answers(message: Message) -> str | None:
    direct = first_message_id(header(message, "In-Reply-To"))
    if direct:
        return direct
    references = message_ids(header(message, "References"))
    if references:
        return references[-1]
    return first_message_id(header(message, "X-MS-Exchange-Parent-Message-Id"))


def _address(value: str) -> str | None:
    """The address of a From header ("Name <a@b.cz>" or a bare address)."""
    found = _BRACKETED.search(value) or _BARE.search(value)
    return found.group("address").lower() if found else None
