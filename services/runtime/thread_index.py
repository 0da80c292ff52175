"""Outlook's and Exchange's `Thread-Index` (the conversation index, [MS-OXOMSG] 2.2.1.3): written by the
mailer, read by the inbox. Pure.

The value is the base64 of a 22-byte header block and one 5-byte child block per reply:

- header: a reserved byte 0x01, five bytes of a FILETIME (its 40 high bits, big-endian), and the 16-byte
  GUID of the conversation (Data1, Data2 and Data3 big-endian, as `UUID.bytes` lays them out);
- child: a delta-code bit and 31 bits of time since the header's, then 8 random bits.

A client replying keeps the header block and appends a child block. It keeps it where `In-Reply-To` and
`References` are lost (an assistant answering from a mailbox of their own, a forward answered, a gateway
that rewrites the thread headers), so the GUID still names the thread a step of ours started.

Ours are derived from the thread's first Message-ID (as sent, angle brackets included) rather than drawn:
every step of a lead's thread carries the same header block without the mailer keeping it anywhere, and the
inbox knows a send's conversation from its Message-ID alone. The GUID is the MD5 of the Message-ID, which
PostgreSQL computes as `md5(message_id)::uuid` (so an index of earlier sends can be filled in). The header's
time is derived too: when the mailer writes step 3 it does not know when step 1 went out, and nothing reads
that time to match a thread (the inbox compares GUIDs; Outlook's conversation id is the GUID's). A child
block's time delta counts the replies (1, 2, …), which keeps the steps in order when sorted by index.

Reading never raises: a header is whatever the sender wrote.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from uuid import UUID

HEADER_BYTES = 22
CHILD_BYTES = 5
RESERVED = 0x01
# A longer thread keeps its header block (what is matched) and its first child blocks: the value stays a
# single header line well under RFC 5322's 998 characters.
MAX_CHILDREN = 100


def conversation_for(root_message_id: str) -> UUID:
    """The GUID of the conversation that `root_message_id` (the thread's first message) started."""
    return UUID(bytes=hashlib.md5(root_message_id.encode("utf-8"), usedforsecurity=False).digest())


def thread_index(root_message_id: str, replies: int) -> str:
    """The `Thread-Index` of the message `replies` messages after the first of the thread that
    `root_message_id` started (0 for that first message)."""
    if replies < 0:
        raise ValueError(f"a message cannot follow {replies} others")
    derived = hashlib.sha256(root_message_id.encode("utf-8")).digest()
    header = bytes([RESERVED]) + derived[:5] + conversation_for(root_message_id).bytes
    children = b"".join(
        number.to_bytes(4, "big") + derived[5 + number % 27 : 6 + number % 27]
        for number in range(1, min(replies, MAX_CHILDREN) + 1)
    )
    return base64.b64encode(header + children).decode("ascii")


def conversation_guid(value: str) -> UUID | None:
    """The conversation GUID a `Thread-Index` value names; None when it is not one (not base64, shorter
    than a header block, a reserved byte other than 0x01, or child blocks that are not 5 bytes each)."""
    compact = "".join(value.split())
    compact += "=" * (-len(compact) % 4)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < HEADER_BYTES or (len(raw) - HEADER_BYTES) % CHILD_BYTES or raw[0] != RESERVED:
        return None
    return UUID(bytes=raw[6:HEADER_BYTES])
