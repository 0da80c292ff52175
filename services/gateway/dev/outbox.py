"""Reading the local SMTP capture's Maildir (`leadflow up`'s, see services/runtime/smtp_capture.py): the
newest messages first, each with its headers and its plain text. Only the newest `limit` files are opened:
the order comes from the files' delivery times (`mailbox.Maildir` sets each file's mtime to it)."""

from __future__ import annotations

import mailbox
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

# A message's text is cut here: the list shows what was sent, not a megabyte attachment's worth of it.
MAX_TEXT_CHARS = 100_000
_PARSER = BytesParser(policy=policy.default)


@dataclass(frozen=True)
class CapturedMessage:
    id: str
    received_at: datetime
    sender: str
    to: str
    subject: str
    message_id: str
    headers: dict[str, str]
    text: str


def newest(folder: Path, limit: int) -> list[CapturedMessage]:
    """The newest `limit` captured messages, newest first; none while the folder does not exist yet."""
    files: list[tuple[float, str, Path]] = []
    for sub in ("new", "cur"):
        try:
            entries = list(os.scandir(folder / sub))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            try:
                files.append((entry.stat().st_mtime, entry.name, Path(entry.path)))
            except FileNotFoundError:
                continue  # moved from new/ to cur/ meanwhile
    files.sort(reverse=True)
    found: list[CapturedMessage] = []
    for mtime, name, path in files:
        if len(found) == limit:
            break
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            continue
        found.append(read(_key(name), datetime.fromtimestamp(mtime, UTC), content))
    return found


def _key(name: str) -> str:
    """The Maildir key of a file name (the part before the `:2,flags` info)."""
    return name.split(mailbox.Maildir.colon, 1)[0]


def read(key: str, received_at: datetime, content: bytes) -> CapturedMessage:
    message = _PARSER.parsebytes(content)
    assert isinstance(message, EmailMessage)
    headers: dict[str, str] = {}
    for name, value in message.items():
        headers[name] = f"{headers[name]}\n{value}" if name in headers else str(value)
    return CapturedMessage(
        id=key,
        received_at=received_at,
        sender=str(message.get("From", "") or message.get("X-MailFrom", "")),
        to=str(message.get("To", "") or message.get("X-RcptTo", "")),
        subject=str(message.get("Subject", "")),
        message_id=str(message.get("Message-ID", "")),
        headers=headers,
        text=_text(message)[:MAX_TEXT_CHARS],
    )


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a broken transfer encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""
