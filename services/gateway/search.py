"""Accent- and case-insensitive substring search over leads, indexed without extensions. Pure, no I/O.

The embedded PostgreSQL ships no `pg_trgm`, so the projection stores what pg_trgm would compute: the
folded text of a lead (`search`: email, names, company; lower case, accents removed) and the set of its
3-character substrings packed into integers (`search_grams`, GIN-indexed with the built-in array
operators). A query's grams must all be present (`search_grams @> …`, an index scan), and the folded
query must then really occur in `search` (the recheck, `LIKE`), exactly as pg_trgm's LIKE support works.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# Letters NFKD does not decompose, and ß; the rest of Central European accents decompose.
_EXTRA = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th"})


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: `Jiří Čapek` → `jiri capek`."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_EXTRA))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.split())


def search_text(values: Iterable[str | None]) -> str:
    return fold(" ".join(v for v in values if v))


def _pack(gram: str) -> int:
    a, b, c = (ord(ch) for ch in gram)
    return (a << 42) | (b << 21) | c  # 21 bits per code point: every Unicode scalar fits


def grams(folded: str) -> list[int]:
    """The distinct 3-character substrings of `folded`, packed, sorted (empty below 3 characters)."""
    return sorted({_pack(folded[i : i + 3]) for i in range(len(folded) - 2)})


def like_pattern(folded: str) -> str:
    """`%…%` for LIKE with the query's own `%`, `_` and `\\` taken literally."""
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
