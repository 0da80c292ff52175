"""Sort keys that order text as Czech does (č after c, ch after h, ř after r, š after s, ž after z).

The embedded PostgreSQL is built without ICU and has no Czech libc locale, and a production server may
have a different one, so the order is not left to the database: ICU's CLDR Czech collation computes a
binary sort key for each value, the table stores it (`bytea`, compared byte by byte the same way by any
PostgreSQL), and a B-tree over it serves the sort. docs/architecture.md says why. Pure, no I/O.
"""

from __future__ import annotations

import icu

# The collation of the stored keys: keys made by another ICU version may order differently, so a change
# of this label means the keys must be recomputed.
COLLATION = f"cs (ICU {icu.ICU_VERSION}, Unicode {icu.UNICODE_VERSION})"

_COLLATOR = icu.Collator.createInstance(icu.Locale("cs_CZ"))


def sort_key(text: str | None) -> bytes | None:
    """The value's Czech sort key; None for no value, so such rows sort apart (last)."""
    if text is None or not text.strip():
        return None
    key: bytes = _COLLATOR.getSortKey(text)
    return key


def person_name(first_name: str | None, last_name: str | None) -> str | None:
    """What a name sort orders by: the surname, then the first name (as a directory lists people)."""
    name = " ".join(part.strip() for part in (last_name, first_name) if part and part.strip())
    return name or None
