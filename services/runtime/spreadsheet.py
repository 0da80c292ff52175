"""CSV cells a spreadsheet opens safely: shared by every CSV the product writes (import reports, exports)."""

from __future__ import annotations

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (CSV injection) by prefixing a quote."""
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value
