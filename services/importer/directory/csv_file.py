"""The directory file format: reading a CSV into rows (or the reason a record cannot be loaded), writing one."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, TextIO

from services.importer.csv_source import detect_delimiter, detect_encoding
from services.importer.directory.rows import CSV_COLUMNS, DirectoryRow, parse_row
from services.importer.domain import ImportInputError

SAMPLE_BYTES = 64 * 1024
_KNOWN_COLUMNS = frozenset(CSV_COLUMNS)


class DirectoryFileError(Exception):
    """The file cannot be loaded at all (no header, wrong columns, not text); nothing was loaded."""


Parsed = tuple[int, DirectoryRow | str]


def read_directory_csv(raw: BinaryIO) -> Iterator[Parsed]:
    """(line, row) for every record, or (line, reason) for one that cannot be loaded.

    The header is checked before this returns, so a file with the wrong columns raises
    `DirectoryFileError` before anything is loaded. Lines are the file's physical lines (a quoted value
    may span several; a record is reported at its first line).
    """
    sample = raw.read(SAMPLE_BYTES)
    try:
        encoding = detect_encoding(sample)
    except ImportInputError as exc:
        raise DirectoryFileError(str(exc)) from exc
    text_sample = sample.decode(encoding, errors="ignore").lstrip("\ufeff")
    if not text_sample.strip():
        raise DirectoryFileError("The file is empty.")
    raw.seek(0)
    delimiter = detect_delimiter(text_sample.rsplit("\n", 1)[0] if "\n" in text_sample else text_sample)
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=delimiter)
    headers = _read_header(reader)
    return _records(text, reader, headers)


def _read_header(reader: Any) -> list[str]:
    try:
        headers = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise DirectoryFileError("The file is empty.") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DirectoryFileError(f"The header row cannot be read: {exc}") from exc
    counts = Counter(headers)
    missing = [c for c in CSV_COLUMNS if c not in counts]
    unknown = [h for h in headers if h not in _KNOWN_COLUMNS]
    duplicated = sorted(h for h, n in counts.items() if n > 1)
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(map(repr, unknown))}")
    if duplicated:
        problems.append(f"column(s) named twice: {', '.join(duplicated)}")
    if problems:
        raise DirectoryFileError(
            f"The header row does not fit: {'; '.join(problems)}. "
            f"A directory file has exactly these columns, in any order: {', '.join(CSV_COLUMNS)}."
        )
    return headers


def _records(text: io.TextIOWrapper, reader: Any, headers: list[str]) -> Iterator[Parsed]:
    width = len(headers)
    line = reader.line_num
    try:
        for values in reader:
            first_line, line = line + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != width:
                yield first_line, f"the row has {len(values)} fields, the header has {width}"
                continue
            try:
                yield first_line, parse_row(dict(zip(headers, values, strict=True)))
            except ValueError as exc:
                yield first_line, str(exc)
    finally:
        # The caller owns the binary file (and reads its position for progress); don't let the text
        # wrapper close it when it is collected.
        text.detach()


def write_directory_csv(rows: Iterable[DirectoryRow], out: TextIO) -> int:
    """The directory file format: UTF-8, comma-separated, a header row. Returns the rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow("" if v is None else v for v in row.values())
        count += 1
    return count
