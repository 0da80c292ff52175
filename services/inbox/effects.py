"""What a message read from a mailbox becomes: pure, from its decision and the send it was linked to.

- `reply` → ReplyDetected (the lead is Replied; its sequence stops when the campaign stops on replies);
- `auto_reply` and `challenge` → AutoReplyDetected (the sequence goes on; with a stated return date the
  lead's next step waits until after it). A challenge asks a person to prove they are one: nobody has read
  the step yet, so it never counts as a reply;
- `hard_bounce` → EmailBounced(source="dsn", kind="hard") (Bounced, stopped, the address suppressed);
- `soft_bounce` → EmailBounced(kind="soft"): counted, the lead goes on to its next step;
- `delayed` → nothing: the message is kept and shown, delivery is still being tried.

A message linked to no send of ours (a newsletter, a stranger) produces nothing; it is kept and shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal
from uuid import UUID

from contracts import AutoReplyDetected, EmailBounced, Event, ReplyDetected
from services.inbox.classify import Kind

SNIPPET_CHARS = 280

# How a message was tied to its send: a Message-ID it names (thread headers, a bounce's original), the
# conversation its Thread-Index names (to the lead's last send in the campaign whose thread it is), or its
# sender's address (a bounce's failed recipient) to the lead's last send.
LinkedBy = Literal["message_id", "thread_index", "address"]


@dataclass(frozen=True)
class Send:
    """A send of ours, from the inbox's index of EmailSent."""

    message_id: str
    workspace_id: UUID
    campaign_id: UUID
    lead_id: UUID
    step: int
    mailbox_id: UUID
    recipient: str | None


@dataclass(frozen=True)
class Decided:
    """A stored message as its effects need it."""

    id: UUID
    workspace_id: UUID
    mailbox_id: UUID
    message_id: str | None
    from_address: str | None
    subject: str
    text: str
    kind: Kind
    rule: str
    status: str | None
    smtp_code: int | None
    diagnostic: str
    bounced_recipient: str | None
    return_date: date | None


def effects(message: Decided, send: Send | None) -> list[Event]:
    if send is None:
        return []
    match message.kind:
        case "reply":
            return [ReplyDetected(**_inbound(message, send))]
        case "auto_reply" | "challenge":
            back = message.return_date if message.kind == "auto_reply" else None
            return [AutoReplyDetected(**_inbound(message, send), return_date=back)]
        case "hard_bounce" | "soft_bounce":
            return [
                EmailBounced(
                    workspace_id=send.workspace_id,
                    campaign_id=send.campaign_id,
                    lead_id=send.lead_id,
                    source="dsn",
                    kind="hard" if message.kind == "hard_bounce" else "soft",
                    smtp_code=message.smtp_code,
                    diagnostic=message.diagnostic[:1000],
                    email=send.recipient or message.bounced_recipient or "",
                    step=send.step,
                    message_id=send.message_id,
                    mailbox_id=send.mailbox_id,
                    status=message.status,
                    rule=message.rule,
                    inbox_message_id=message.id,
                )
            ]
        case _:
            return []


def _inbound(message: Decided, send: Send) -> dict[str, object]:
    return {
        "workspace_id": send.workspace_id,
        "campaign_id": send.campaign_id,
        "lead_id": send.lead_id,
        "message_id": message.message_id or f"<inbox-{message.id}@leadflow.invalid>",
        "from_address": message.from_address or "",
        "subject_line": message.subject[:500],
        "snippet": snippet(message.text),
        "inbox_message_id": message.id,
        "mailbox_id": message.mailbox_id,
        "in_reply_to": send.message_id,
        "step": send.step,
        "rule": message.rule,
    }


def snippet(text: str) -> str:
    """The text's first words on one line, at most SNIPPET_CHARS characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"
