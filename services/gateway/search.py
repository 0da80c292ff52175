"""Accent- and case-insensitive substring search over leads, indexed without extensions. Pure, no I/O.

The embedded PostgreSQL ships no `pg_trgm`, so the projection stores what pg_trgm would compute: the
folded text of a lead (`search`: email, names, company, city; lower case, accents removed) and the set of
its 3-character substrings packed into integers (`lead_search.grams`, GIN-indexed with the built-in array
operators). A query is split into words; the grams of all of them must be present (`grams @> …`, an
index scan), and each folded word must then really occur in `search` (the recheck, one `LIKE` per word),
exactly as pg_trgm's LIKE support works.
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


def lead_search_text(
    email: str, first_name: str | None, last_name: str | None, company_name: str | None, city: str | None
) -> str:
    """The folded text a lead is found by: every field a person may type part of."""
    return search_text((email, first_name, last_name, company_name, city))


def search_words(query: str) -> list[str]:
    """The folded words of a query, each once: every one must occur in a lead's text (in any field, in any
    order), so `katerina brno` finds Kateřina in Brno."""
    return list(dict.fromkeys(fold(query).split()))


def query_grams(words: Iterable[str]) -> list[int]:
    """The grams every matching lead has: those of each word (a word under 3 characters has none)."""
    return sorted({gram for word in words for gram in grams(word)})


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
