"""What a person reads: facet values in Czech order and the name of an import made from a filter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from contracts.commands import DirectoryFilter, PipelineFilter
from services.runtime.collation import sort_key


def in_czech_order(values: Iterable[str]) -> list[str]:
    """Dropdown values as a Czech reader looks for them: České Budějovice after Brno, not after Znojmo."""
    return sorted(values, key=lambda value: sort_key(value) or b"")


def range_label(low: int | None, high: int | None) -> str | None:
    if low is None and high is None:
        return None
    if high is None:
        return f"{low:,}+"
    if low is None:
        return f"up to {high:,}"
    return f"{low:,}-{high:,}" if low != high else f"{low:,}"


def filter_label(
    prefix: str, lists: Sequence[Sequence[str]], f: DirectoryFilter | PipelineFilter, everything: str
) -> str:
    """A human name for an import made from a filter, e.g. "Directory: Praha, IT services"."""
    parts = [", ".join(values) for values in lists if values]
    size, revenue = range_label(f.size_min, f.size_max), range_label(f.revenue_min, f.revenue_max)
    if size:
        parts.append(f"{size} employees")
    if revenue:
        parts.append(f"revenue {revenue}")
    if f.q:
        parts.append(f'"{f.q}"')
    label = f"{prefix}: {', '.join(parts) or everything}"
    return label if len(label) <= 200 else label[:199] + "…"


def directory_label(f: DirectoryFilter) -> str:
    return filter_label("Directory", [f.country, f.city, f.industry], f, "all companies")
