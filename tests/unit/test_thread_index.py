"""Outlook's `Thread-Index` (services/runtime/thread_index.py): ours keep one conversation GUID through a
thread and grow by a 5-byte child block per step; any value a sender writes reads as a GUID or as nothing,
never as an error."""

from __future__ import annotations

import base64
import hashlib
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.thread_index import (
    CHILD_BYTES,
    HEADER_BYTES,
    MAX_CHILDREN,
    conversation_for,
    conversation_guid,
    thread_index,
)

ROOT = "<6f1c5b0e-6a43-4d0a-9a0c-0c6b9a5e0e01@firma.cz>"
EXCHANGE = "AQHWLRNo4NaOjvXU8EODe0ZotrA8B6itzaxf"
EXCHANGE_GUID = UUID(bytes=base64.b64decode(EXCHANGE)[6:22])


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def test_the_conversation_is_the_md5_of_the_message_id_as_postgresql_gives_it() -> None:
    # PostgreSQL's md5(message_id)::uuid reads the hex digest in order: the index of sends is filled by it.
    assert conversation_for(ROOT) == UUID(hex=hashlib.md5(ROOT.encode()).hexdigest())
    assert conversation_for(ROOT) != conversation_for(ROOT.upper())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Shaped as Exchange Online writes them (0x01, five time bytes, the GUID, then child blocks): the
        # GUID is bytes 6 to 22, Data1 to Data3 big-endian as the UUID's own bytes.
        (EXCHANGE, EXCHANGE_GUID),
        (
            "AQHbsVWwIA6VeMCiujFaOUb+YRZuirN7IEUq",
            UUID(bytes=base64.b64decode("AQHbsVWwIA6VeMCiujFaOUb+YRZuirN7IEUq")[6:22]),
        ),
        # A header block alone (the thread's first message), and with its padding dropped.
        (b64(b"\x01" + b"\x00" * 5 + bytes(range(16))), UUID(bytes=bytes(range(16)))),
        (b64(b"\x01" + b"\x00" * 5 + bytes(range(16))).rstrip("="), UUID(bytes=bytes(range(16)))),
        # Folded over lines by a client or a gateway.
        (f" {EXCHANGE[:20]}\r\n\t{EXCHANGE[20:]} ", EXCHANGE_GUID),
        # Not a conversation index: nothing.
        ("", None),
        ("   ", None),
        ("not base64 at all!", None),
        ("AQ==", None),
        (b64(b"\x01" * 21), None),  # shorter than a header block
        (b64(b"\x02" + b"\x00" * 21), None),  # the reserved byte is 0x01
        (b64(b"\x01" + b"\x00" * 22), None),  # a child block is 5 bytes, not 1
        (b64(b"\x01" + b"\x00" * 25), None),  # nor 4
        ("AQJ56zsvvghUTSBbH==", None),  # padding where none fits
        (EXCHANGE + "\x00", None),
        ("Á" + EXCHANGE[1:], None),
        ("=?utf-8?b?QVFIV0xSTm80TmFPanZYVThFT0RlMFpvdHJBOEI2aXR6YXhm?=", None),
    ],
)
def test_a_value_names_its_conversation_or_nothing(value: str, expected: UUID | None) -> None:
    assert conversation_guid(value) == expected


@pytest.mark.parametrize(("replies", "blocks"), [(0, 0), (1, 1), (2, 2), (7, 7), (500, MAX_CHILDREN)])
def test_each_step_adds_a_child_block_to_one_header_block(replies: int, blocks: int) -> None:
    raw = base64.b64decode(thread_index(ROOT, replies))
    assert len(raw) == HEADER_BYTES + CHILD_BYTES * blocks
    assert raw[:HEADER_BYTES] == base64.b64decode(thread_index(ROOT, 0))
    assert raw[0] == 0x01 and raw[6:HEADER_BYTES] == conversation_for(ROOT).bytes


def test_a_negative_count_of_replies_is_refused() -> None:
    with pytest.raises(ValueError, match="-1"):
        thread_index(ROOT, -1)


@given(st.text(), st.integers(min_value=0, max_value=150))
def test_every_step_of_a_thread_names_its_first_messages_conversation(root: str, replies: int) -> None:
    value = thread_index(root, replies)
    assert value.isascii() and len(value) < 900  # one plain header line
    assert conversation_guid(value) == conversation_for(root)
    raw = base64.b64decode(value)
    # Child blocks: the delta-code bit clear, the time delta counting the steps (sorted by index, in order).
    deltas = [int.from_bytes(raw[at : at + 4], "big") for at in range(HEADER_BYTES, len(raw), CHILD_BYTES)]
    assert deltas == list(range(1, min(replies, MAX_CHILDREN) + 1))


@given(st.text())
def test_any_text_is_a_conversation_or_nothing(value: str) -> None:
    assert conversation_guid(value) is None or isinstance(conversation_guid(value), UUID)


@given(st.binary(max_size=200))
def test_any_bytes_are_a_conversation_exactly_when_shaped_as_one(raw: bytes) -> None:
    shaped = len(raw) >= HEADER_BYTES and (len(raw) - HEADER_BYTES) % CHILD_BYTES == 0 and raw[0] == 1
    found = conversation_guid(b64(raw))
    assert found == (UUID(bytes=raw[6:HEADER_BYTES]) if shaped else None)
