"""Reading an uploaded suppression list: which addresses it holds and which rows are not addresses.

Pure: it reads the file object it is given and nothing else. The file is a CSV in any of the encodings
and delimiters an import detects; the addresses are in the column a header names as the email (the same
spellings the import wizard recognises), else in the first column. A first row whose first cell is an
address is data, not a header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

from email_validator import EmailNotValidError

from services.importer.csv_source import open_csv, ragged_reason
from services.importer.domain import normalise_email, suggest_mapping


class ListedAddress(NamedTuple):
    row: int
    email: str
    key: str


class RejectedRow(NamedTuple):
    row: int
    value: str
    reason: str


@dataclass
class SuppressionFile:
    # The first row of each address (case-folded), in file order.
    addresses: list[ListedAddress] = field(default_factory=list)
    # Rows repeating an address listed earlier in the file.
    repeated: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)


def _is_address(value: str) -> bool:
    try:
        normalise_email(value)
    except EmailNotValidError:
        return False
    return True


def read_suppression_file(raw: BinaryIO) -> SuppressionFile:
    """The addresses of a suppression-list CSV; raises `ImportInputError` for a file that is not one.

    Rows are numbered as a spreadsheet shows them: the file's first row (header or not) is row 1. Blank
    rows carry nothing and are skipped; every other row is an address, a repeat or a rejection.
    """
    stream = open_csv(raw)
    headers = stream.headers
    named = suggest_mapping(headers).get("email")
    headerless = named is None and _is_address(headers[0])
    column = named or headers[0]
    result = SuppressionFile()
    seen: set[str] = set()

    def take(row: int, value: str) -> None:
        value = value.strip()
        if not value:
            result.rejected.append(RejectedRow(row, "", "the address cell is empty"))
            return
        try:
            normalised = normalise_email(value)
        except EmailNotValidError as exc:
            result.rejected.append(RejectedRow(row, value, f"not an email address: {exc}"))
            return
        if normalised.key in seen:
            result.repeated += 1
            return
        seen.add(normalised.key)
        result.addresses.append(ListedAddress(row, normalised.email, normalised.key))

    if headerless:
        take(1, headers[0])
    for number, values in stream.rows():
        row = number + 1  # the header (or the first address) is row 1
        reason = ragged_reason(values)
        if reason is not None:
            result.rejected.append(RejectedRow(row, "", reason))
            continue
        take(row, values[column])
    return result
