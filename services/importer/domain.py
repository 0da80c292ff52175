"""Pure import logic: column mapping, email normalisation, per-chunk classification. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

from contracts.commands import LEAD_FIELDS


class Outcome(StrEnum):
    IMPORTED = "imported"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    ALREADY_IN_CAMPAIGN = "already_in_campaign"
    SUPPRESSED = "suppressed"
    INVALID_FORMAT = "invalid_format"
    MISSING_EMAIL = "missing_email"
    REJECTED = "rejected"


def empty_counts() -> dict[str, int]:
    return {outcome.value: 0 for outcome in Outcome}


class ImportInputError(Exception):
    """The file or the mapping cannot be imported; the message is written for the person who uploaded it."""


def validate_mapping(mapping: Mapping[str, str], headers: Sequence[str]) -> dict[str, str]:
    unknown = sorted(set(mapping) - set(LEAD_FIELDS))
    if unknown:
        raise ImportInputError(
            f"Unknown field(s) in the mapping: {', '.join(unknown)}. Known fields: {', '.join(LEAD_FIELDS)}."
        )
    if not mapping.get("email"):
        raise ImportInputError("No column is mapped to email; map the column that holds the email address.")
    missing = [header for header in mapping.values() if header and header not in headers]
    if missing:
        raise ImportInputError(
            f"The mapping names column(s) the file does not have: {', '.join(map(repr, missing))}. "
            f"The file's columns are: {', '.join(map(repr, headers))}."
        )
    return {key: value for key, value in mapping.items() if value}


@dataclass(frozen=True)
class NormalisedEmail:
    email: str
    key: str


def normalise_email(raw: str) -> NormalisedEmail:
    """Trim, drop `mailto:`, lower-case the domain, IDN to ASCII; raises `EmailNotValidError`."""
    value = raw.strip()
    if value[:7].lower() == "mailto:":
        value = value[7:].strip()
    checked = validate_email(value, check_deliverability=False)
    email = checked.ascii_email or checked.normalized
    local, _, domain = email.rpartition("@")
    email = f"{local}@{domain.lower()}"
    return NormalisedEmail(email=email, key=email.lower())


@dataclass(frozen=True)
class Candidate:
    row: int
    email: str
    key: str
    fields: dict[str, str | None]
    custom: dict[str, str]


@dataclass(frozen=True)
class Rejection:
    row: int
    value: str
    outcome: Outcome
    reason: str


@dataclass
class ChunkPlan:
    candidates: list[Candidate] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def plan_chunk(rows: Iterable[tuple[int, Mapping[str, str]]], mapping: Mapping[str, str]) -> ChunkPlan:
    """Map and check each row; the first occurrence of an address in the chunk is the candidate.

    Duplicates across chunks are found by the database's unique index, so a resumed import needs no memory
    of earlier chunks.
    """
    plan = ChunkPlan()
    seen: set[str] = set()
    mapped_headers = set(mapping.values())
    for row_number, row in rows:
        raw_email = (row.get(mapping["email"]) or "").strip()
        if not raw_email:
            plan.rejections.append(
                Rejection(row_number, "", Outcome.MISSING_EMAIL, "the email column is empty")
            )
            continue
        try:
            normalised = normalise_email(raw_email)
        except EmailNotValidError as exc:
            plan.rejections.append(Rejection(row_number, raw_email, Outcome.INVALID_FORMAT, str(exc)))
            continue
        if normalised.key in seen:
            plan.rejections.append(
                Rejection(
                    row_number,
                    raw_email,
                    Outcome.DUPLICATE_IN_FILE,
                    "the same address appears earlier in this file",
                )
            )
            continue
        seen.add(normalised.key)
        fields = {
            name: (row.get(header) or "").strip() or None
            for name, header in mapping.items()
            if name != "email"
        }
        custom = {
            header: value
            for header, value in row.items()
            if header not in mapped_headers and value is not None
        }
        plan.candidates.append(Candidate(row_number, normalised.email, normalised.key, fields, custom))
    return plan
