"""Page cursors: whatever position a list hands out comes back intact, and anything else is refused —
never read as "from the start" (`GET /suppressions?cursor=!!!` once answered the first page)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor

positions = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(positions)
def test_a_handed_out_cursor_comes_back_as_its_position(position: Any) -> None:
    cursor = encode_cursor(position)
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(cursor) == position


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "",
        "nonsense!",
        "WzEsMl0!",  # a cursor with a stray character
        "WzEsM",  # cut: no whole byte left at the end
        "W zEsMl0",
        "Wz+sMl0",  # standard, not URL-safe, base64
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),
        base64.urlsafe_b64encode(b'"a@b.cz\\u0000"').decode(),  # text no position holds
        base64.urlsafe_b64encode(b'["", "\\ud800", 7]').decode(),
    ],
)
def test_anything_else_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="not one this API returned"):
        decode_cursor(cursor)


def test_padding_is_accepted_as_base64_writes_it() -> None:
    assert decode_cursor(base64.urlsafe_b64encode(b'"a@b.cz"').decode()) == "a@b.cz"
