"""Reading an uploaded CSV as a stream of rows: encoding and delimiter detection, ragged rows.

Works on a binary file object so the importer never holds the whole file in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from services.importer.domain import ImportInputError

SAMPLE_BYTES = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
# Central European Excel exports are cp1250; anything else that is not UTF-8 is read as such.
FALLBACK_ENCODING = "cp1250"


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise ImportInputError("This looks like a binary file, not a CSV: it contains NUL bytes.")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return FALLBACK_ENCODING
    return "utf-8"


def detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


class _CountingReader(io.RawIOBase):
    """Counts the bytes handed to the text decoder, for progress."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)


@dataclass
class CsvStream:
    encoding: str
    delimiter: str
    headers: list[str]
    _reader: Iterator[list[str]]
    _counter: _CountingReader

    @property
    def bytes_read(self) -> int:
        return self._counter.consumed

    def rows(self, skip: int = 0) -> Iterator[tuple[int, dict[str, str]]]:
        """(data row number from 1, values by header); ragged rows raise `RaggedRow` to be reported."""
        width = len(self.headers)
        for number, values in enumerate(self._reader, start=1):
            if number <= skip:
                continue
            if not any(v.strip() for v in values):
                continue
            if len(values) > width:
                yield number, {_RAGGED: f"row has {len(values)} fields, the header has {width}"}
                continue
            values = values + [""] * (width - len(values))
            yield number, dict(zip(self.headers, values, strict=True))


# A row that cannot be mapped carries only this key; the importer reports it as rejected.
_RAGGED = "\x00ragged"


def ragged_reason(row: dict[str, str]) -> str | None:
    return row.get(_RAGGED)


def open_csv(raw: BinaryIO) -> CsvStream:
    sample = raw.read(SAMPLE_BYTES)
    if not sample.strip():
        raise ImportInputError("The file is empty.")
    encoding = detect_encoding(sample)
    raw.seek(0)
    counter = _CountingReader(raw)
    text = io.TextIOWrapper(io.BufferedReader(counter), encoding=encoding, newline="")
    csv.field_size_limit(MAX_LINE_BYTES)
    try:
        first_line = sample.decode(encoding, errors="ignore").lstrip("\ufeff").splitlines()[0]
    except IndexError:
        first_line = ""
    delimiter = detect_delimiter(first_line)
    reader = csv.reader(_checked_lines(text), delimiter=delimiter)
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportInputError("The file is empty.") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportInputError(f"The header row cannot be read: {exc}") from exc
    if not any(headers):
        raise ImportInputError("The first row is empty; the file needs a header row naming its columns.")
    duplicates = sorted({h for h in headers if h and headers.count(h) > 1})
    if duplicates:
        raise ImportInputError(f"The header names column(s) more than once: {', '.join(duplicates)}.")
    return CsvStream(encoding, delimiter, headers, reader, counter)


def _checked_lines(text: io.TextIOWrapper) -> Iterator[str]:
    for line in text:
        if len(line) > MAX_LINE_BYTES:
            raise ImportInputError(f"A line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB.")
        yield line
