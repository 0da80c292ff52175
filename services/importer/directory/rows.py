"""One company of the directory as a file and the table hold it, and the checks a record must pass."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from email_validator import EmailNotValidError
from psycopg import sql

from contracts.commands import MAX_EMPLOYEES, MAX_REVENUE
from contracts.text import check_text
from services.importer.domain import normalise_email

TABLE = sql.Identifier("importer", "directory_companies")

TEXT_LIMITS: dict[str, int] = {
    "country": 100,
    "city": 100,
    "industry": 100,
    "company_name": 200,
    "website": 200,
    "email": 254,
    "first_name": 100,
}
NUMBER_LIMITS: dict[str, int] = {
    "size_min": MAX_EMPLOYEES,
    "size_max": MAX_EMPLOYEES,
    "revenue_min": MAX_REVENUE,
    "revenue_max": MAX_REVENUE,
}


@dataclass(frozen=True)
class DirectoryRow:
    country: str | None
    city: str | None
    industry: str | None
    size_min: int | None
    size_max: int | None
    revenue_min: int | None
    revenue_max: int | None
    company_name: str
    website: str | None
    email: str | None
    first_name: str | None

    def values(self) -> tuple[Any, ...]:
        """In CSV_COLUMNS order (the COPY column list)."""
        values: tuple[Any, ...] = _row_values(self)
        return values


# The columns of a directory file, in the order `sample --output` writes them (any order loads).
CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(DirectoryRow))
_row_values = operator.attrgetter(*CSV_COLUMNS)


def parse_row(values: Mapping[str, str]) -> DirectoryRow:
    """One record of a directory file; raises ValueError with the reason a person can act on."""
    text: dict[str, str | None] = {}
    for name, limit in TEXT_LIMITS.items():
        value = values.get(name, "").strip()
        try:
            check_text(value)
        except ValueError as exc:
            raise ValueError(f"{name} {exc}") from exc
        if len(value) > limit:
            raise ValueError(f"{name} is {len(value)} characters long; at most {limit} are allowed")
        text[name] = value or None
    numbers = {
        name: _whole_number(name, values.get(name, ""), limit) for name, limit in NUMBER_LIMITS.items()
    }
    for band in ("size", "revenue"):
        low, high = numbers[f"{band}_min"], numbers[f"{band}_max"]
        if low is not None and high is not None and low > high:
            raise ValueError(f"{band}_min ({low}) is greater than {band}_max ({high})")
    company_name = text["company_name"]
    if company_name is None:
        raise ValueError("company_name is empty")
    email = text["email"]
    if email is not None:
        try:
            email = normalise_email(email).email
        except EmailNotValidError as exc:
            raise ValueError(f"email {email!r} is not an email address: {exc}") from None
    return DirectoryRow(
        country=text["country"],
        city=text["city"],
        industry=text["industry"],
        size_min=numbers["size_min"],
        size_max=numbers["size_max"],
        revenue_min=numbers["revenue_min"],
        revenue_max=numbers["revenue_max"],
        company_name=company_name,
        website=text["website"],
        email=email,
        first_name=text["first_name"],
    )


def _whole_number(name: str, raw: str, limit: int) -> int | None:
    value = raw.strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"{name} {value!r} is not a whole number of at least 0")
    number = int(value)
    if number > limit:
        raise ValueError(f"{name} {number} is larger than {limit:,}")
    return number
