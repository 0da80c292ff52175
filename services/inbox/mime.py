"""What the classifier reads from a raw message: its headers decoded, its own text (what the sender wrote,
not the quoted or returned original), a report's delivery-status fields, and the original message a bounce
returns. Pure: bytes in, values out.

Parsed with the `email` package's `compat32` policy, which reads a message several times faster than
`policy.default` (the classifier's budget is half a millisecond a message); headers are decoded on demand.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import Header, decode_header, make_header
from email.message import Message
from email.policy import compat32
from typing import Any

# More text than this is not read: the decision is in the first screens of a message.
TEXT_LIMIT = 64 * 1024

_MSG_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_BLOCK_TAG = re.compile(r"<(br|/p|/div|/tr|/li|/h\d)\b[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\xa0]+")


def parse(raw: bytes) -> Message:
    return message_from_bytes(raw, policy=compat32)


def header(message: Message, name: str) -> str:
    """A header's value, encoded words decoded, folded onto one line; "" when absent or unreadable."""
    value = _index(message).get(name.lower())
    if value is None:
        return ""
    if isinstance(value, Header):
        # Raw 8-bit bytes in a header (RFC 6532 UTF-8, or a legacy charset): read as UTF-8, else Latin-1.
        text = "".join(_eight_bit(chunk, charset) for chunk, charset in decode_header(value))
    else:
        text = str(value)
    if "=?" in text:
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def _index(message: Message) -> dict[str, Any]:
    """The message's headers by lower-case name, the first of each (as `Message.get` finds it), built once:
    `Message.get` lowercases every header's name on each call, and a message has dozens of `Received`."""
    index: dict[str, Any] | None = getattr(message, "_leadflow_headers", None)
    if index is None:
        index = {}
        for key, value in message.items():
            index.setdefault(key.lower(), value)
        message._leadflow_headers = index  # type: ignore[attr-defined]
    return index


def _eight_bit(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    if charset and charset != "unknown-8bit":
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            return chunk.decode(charset)
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        return chunk.decode("latin-1")


def message_ids(value: str) -> list[str]:
    """The `<id@host>` tokens of a header value, in order."""
    return [str(found) for found in _MSG_ID.findall(value)]


def first_message_id(value: str) -> str | None:
    found = message_ids(value)
    return found[0] if found else None


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[:TEXT_LIMIT].decode(charset, errors="replace")
    except LookupError:
        return payload[:TEXT_LIMIT].decode("utf-8", errors="replace")


def html_to_text(markup: str) -> str:
    markup = _BLOCK_TAG.sub("\n", markup)
    text = html.unescape(_TAG.sub(" ", markup))
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines())


@dataclass
class Parts:
    """A message's parts as the classifier uses them."""

    text: str = ""
    """The message's own human-readable text (plain, or HTML made plain when it has no plain part)."""
    delivery_status: list[dict[str, str]] = field(default_factory=list)
    """A report's `message/delivery-status` blocks, field names lower-case (the first: per message)."""
    original: Message | None = None
    """The message a bounce returns (`message/rfc822`) or its headers (`text/rfc822-headers`)."""
    disposition: list[dict[str, str]] = field(default_factory=list)
    """A read receipt's (or feedback report's) fields, names lower-case."""
    report_type: str = ""
    """A `multipart/report`'s `report-type` (delivery-status, disposition-notification, …), lower-case."""


def parts(message: Message) -> Parts:
    report = message.get_content_type() == "multipart/report"
    found = Parts(report_type=str(message.get_param("report-type") or "").lower() if report else "")
    plain: list[str] = []
    markup: list[str] = []
    for part in _walk(message, found):
        kind = part.get_content_type()
        if part.get_content_disposition() == "attachment" and kind.startswith("text/") and plain:
            continue
        if kind == "text/plain":
            plain.append(_decoded(part))
        elif kind == "text/html":
            markup.append(_decoded(part))
    text = "\n".join(plain) if plain else "\n".join(html_to_text(m) for m in markup)
    found.text = text[:TEXT_LIMIT]
    return found


def _walk(message: Message, found: Parts) -> Iterator[Message]:
    """The leaf parts of the message itself; a returned original and a delivery status are set aside."""
    kind = message.get_content_type()
    if kind in ("message/disposition-notification", "message/feedback-report"):
        found.disposition = _status_blocks(message)
        return
    if kind == "message/delivery-status":
        found.delivery_status = _status_blocks(message)
        return
    if kind in ("message/rfc822", "message/global"):
        if found.original is None:
            inner = message.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found.original = inner[0]
        return
    if kind in ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers"):
        if found.original is None:
            found.original = parse(_decoded(message).encode("utf-8", errors="replace"))
        return
    if message.is_multipart():
        for part in message.get_payload() or []:
            if isinstance(part, Message):
                yield from _walk(part, found)
        return
    yield message


def _status_blocks(part: Message) -> list[dict[str, str]]:
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list) and payload:
        for block in payload:
            if isinstance(block, Message):
                blocks.append({k.lower(): " ".join(str(v).split()) for k, v in block.items()})
    if not any(blocks):
        # Encoded (base64, quoted-printable) or malformed: read the fields from the decoded text.
        blocks = status_fields_from_text(_decoded(part))
    return [b for b in blocks if b]


_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*)$")


def status_fields_from_text(text: str) -> list[dict[str, str]]:
    """`Name: value` blocks separated by blank lines (continuation lines folded in)."""
    blocks: list[dict[str, str]] = [{}]
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
            continue
        if line[0] in " \t" and last:
            blocks[-1][last] += " " + line.strip()
            continue
        match = _FIELD.match(line)
        if match:
            last = match.group(1).lower()
            blocks[-1][last] = match.group(2).strip()
    return [b for b in blocks if b]


# Where a reply's quoted original starts (English, Czech, German; Outlook's and the common clients').
_QUOTE_START = re.compile(
    r"^(>|"
    r"On .{4,200}\bwrote:\s*$|"
    r"Dne .{4,200}napsal(\(a\)|a)?:\s*$|"
    r".{0,80}\bnapsal(\(a\)|a)?:\s*$|"
    r"Am .{4,200}\bschrieb .{0,200}:\s*$|"
    r".{0,120}\bschrieb:\s*$|"
    r"-{2,}\s*(Original Message|Original-Nachricht|Ursprüngliche Nachricht|Původní zpráva|"
    r"Forwarded message|Weitergeleitete Nachricht|Přeposlaná zpráva)\s*-{2,}|"
    r"_{10,}\s*$|"
    r"(From|Von|Od):\s.{3,200}$(?=\n\s*(Sent|Gesendet|Odesláno|Date|Datum):))",
    re.IGNORECASE | re.MULTILINE,
)


def own_text(text: str) -> str:
    """What the sender wrote above the quoted original (all of it when nothing is quoted)."""
    match = _QUOTE_START.search(text)
    return text[: match.start()] if match else text
