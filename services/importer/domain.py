"""Pure import logic: column mapping, email normalisation, per-chunk classification. No I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

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


class NormalisedEmail(NamedTuple):
    email: str
    key: str


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@((?:{_LABEL}\.)+{_LABEL})")
# email-validator refuses these top-level names (RFC 6761 special use); the fast path must too.
_SPECIAL_USE_TLDS = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _fast_normalise(value: str) -> NormalisedEmail | None:
    """The common case — a plain ASCII dot-atom address — checked without email-validator's full parse.

    It accepts only what email-validator accepts with the same result (a hypothesis test holds it to
    that) and answers None for anything else, which then takes the full path.
    """
    local, at, domain = value.rpartition("@")
    if not at or len(value) > 254 or len(local) > 64:
        return None
    domain = domain.lower()
    match = _PLAIN_ADDRESS.fullmatch(f"{local}@{domain}")
    if match is None or "--" in domain or len(domain) > 253:
        return None
    tld = domain.rsplit(".", 1)[1]
    if tld in _SPECIAL_USE_TLDS or not ("a" <= tld[-1] <= "z"):  # every TLD ends with a letter
        return None
    email = f"{local}@{domain}"
    return NormalisedEmail(email=email, key=email.lower())


def normalise_email(raw: str) -> NormalisedEmail:
    """Trim, drop `mailto:`, lower-case the domain, IDN to ASCII; raises `EmailNotValidError`."""
    value = raw.strip()
    if value[:7].lower() == "mailto:":
        value = value[7:].strip()
    fast = _fast_normalise(value)
    if fast is not None:
        return fast
    checked = validate_email(value, check_deliverability=False)
    email = checked.ascii_email or checked.normalized
    local, _, domain = email.rpartition("@")
    email = f"{local}@{domain.lower()}"
    return NormalisedEmail(email=email, key=email.lower())


# Tuples rather than dataclasses: one of each is made for every row of an import.
class Candidate(NamedTuple):
    row: int
    email: str
    key: str
    fields: dict[str, str | None]
    custom: dict[str, str]


class Rejection(NamedTuple):
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
    email_header = mapping["email"]
    field_headers = [(name, header) for name, header in mapping.items() if name != "email"]
    candidates, rejections = plan.candidates, plan.rejections
    for row_number, row in rows:
        raw_email = (row.get(email_header) or "").strip()
        if not raw_email:
            rejections.append(Rejection(row_number, "", Outcome.MISSING_EMAIL, "the email column is empty"))
            continue
        try:
            normalised = normalise_email(raw_email)
        except EmailNotValidError as exc:
            rejections.append(Rejection(row_number, raw_email, Outcome.INVALID_FORMAT, str(exc)))
            continue
        if normalised.key in seen:
            rejections.append(
                Rejection(
                    row_number,
                    raw_email,
                    Outcome.DUPLICATE_IN_FILE,
                    "the same address appears earlier in this import",
                )
            )
            continue
        seen.add(normalised.key)
        fields = {name: (row.get(header) or "").strip() or None for name, header in field_headers}
        custom = {
            header: value
            for header, value in row.items()
            if header not in mapped_headers and value is not None
        }
        candidates.append(Candidate(row_number, normalised.email, normalised.key, fields, custom))
    return plan


# Header spellings, English and Czech, as `_header_key` leaves them (lower case, no accents, letters only).
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "emailovaadresa", "emailadresa", "kontaktniemail", "eml"),
    "first_name": ("firstname", "givenname", "forename", "jmeno", "krestnijmeno"),
    "last_name": ("lastname", "surname", "familyname", "prijmeni"),
    "company_name": (
        "companyname",
        "company",
        "organization",
        "organisation",
        "account",
        "accountname",
        "firma",
        "nazevfirmy",
        "spolecnost",
        "nazevspolecnosti",
        "obchodnijmeno",
    ),
    "phone": ("phone", "phonenumber", "telephone", "tel", "mobile", "telefon", "telefonnicislo", "mobil"),
    "website": ("website", "web", "url", "homepage", "www", "webovastranka", "webovestranky", "webovaadresa"),
    "city": ("city", "town", "mesto", "obec"),
    "industry": ("industry", "sector", "segment", "obor", "odvetvi"),
}


def _header_key(header: str) -> str:
    decomposed = unicodedata.normalize("NFKD", header.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def suggest_mapping(headers: Sequence[str]) -> dict[str, str]:
    """Our field → the header that most likely holds it; case-, accent- and punctuation-insensitive.

    Exact spellings win over a header that merely contains one (e.g. "Work e-mail"); each header is
    used at most once, by the first field (in HEADER_SYNONYMS order) that takes it. Each header is looked
    at once per kind of match, so the work grows linearly with the number of columns.
    """
    # For each field, the headers that would do, in file order: exact spellings, then containing ones.
    exact: dict[str, list[str]] = {name: [] for name in HEADER_SYNONYMS}
    partial: dict[str, list[str]] = {name: [] for name in HEADER_SYNONYMS}
    for header in dict.fromkeys(headers):
        key = _header_key(header)
        if not key:
            continue
        for name in _FIELDS_SPELT.get(key, ()):
            exact[name].append(header)
        for name, pattern in _PARTIAL_PATTERNS.items():
            if pattern.search(key):
                partial[name].append(header)
    suggestion: dict[str, str] = {}
    taken: set[str] = set()
    for candidates in (exact, partial):
        for name, headers_of_field in candidates.items():
            if name in suggestion:
                continue
            chosen = next((h for h in headers_of_field if h not in taken), None)
            if chosen is not None:
                suggestion[name] = chosen
                taken.add(chosen)
    return {name: suggestion[name] for name in LEAD_FIELDS if name in suggestion}


def _fields_by_spelling() -> dict[str, tuple[str, ...]]:
    spelt: dict[str, tuple[str, ...]] = {}
    for name, spellings in HEADER_SYNONYMS.items():
        for spelling in spellings:
            spelt[spelling] = (*spelt.get(spelling, ()), name)
    return spelt


# An exact match is one dictionary look-up: spelling → the fields spelt so.
_FIELDS_SPELT = _fields_by_spelling()
# Spellings shorter than 4 letters ("tel", "web") only match exactly: inside a longer name they are noise.
_PARTIAL_PATTERNS = {
    name: re.compile("|".join(re.escape(s) for s in spellings if len(s) >= 4))
    for name, spellings in HEADER_SYNONYMS.items()
    if any(len(s) >= 4 for s in spellings)
}
