"""Page cursors of every list in the API: a JSON value (the last row's position) in URL-safe base64.

Opaque to clients, and read back strictly: a cursor with a character base64 does not use, a cut one or
one that does not hold JSON is refused (a 422 at the gateway), never taken for "from the start".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from contracts.text import check_text

NOT_OURS = "`cursor` is not one this API returned."

_URLSAFE_BASE64 = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class InvalidCursor(ValueError):
    """A cursor this API did not hand out."""

    def __init__(self, message: str = NOT_OURS) -> None:
        super().__init__(message)


def encode_cursor(position: Any) -> str:
    raw = json.dumps(position, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """The JSON value `encode_cursor` was given; raises InvalidCursor for anything else, also for text
    that no position holds (NUL, a lone surrogate: JSON can spell both)."""
    if not _URLSAFE_BASE64.fullmatch(cursor):
        raise InvalidCursor
    unpadded = cursor.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
        position = json.loads(raw.decode())
        _check_texts(position)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidCursor from exc
    return position


def _check_texts(value: Any) -> None:
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, list):
        for item in value:
            _check_texts(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_texts(key)
            _check_texts(item)
