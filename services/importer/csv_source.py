"""Reading an uploaded CSV as a stream of rows: encoding and delimiter detection, ragged rows.

Works on a binary file object so the importer never holds the whole file in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from services.importer.domain import ImportInputError

SAMPLE_BYTES = 64 * 1024
# Far more than any CRM or spreadsheet export has; a header beyond it is refused before any work per column.
MAX_COLUMNS = 1_000
MAX_LINE_BYTES = 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
# Central European exports that are not UTF-8: Excel writes cp1250, older systems ISO-8859-2.
FALLBACK_ENCODINGS = ("cp1250", "iso8859-2")


# Letters of Central European languages; how many a decoding yields tells cp1250 from ISO-8859-2.
_CE_LETTERS = frozenset("áäčďéěíĺľňóôöőŕřšťúůüűýžąćęłńśźżÁÄČĎÉĚÍĹĽŇÓÔÖŐŔŘŠŤÚŮÜŰÝŽĄĆĘŁŃŚŹŻ")


def detect_encoding(sample: bytes) -> str:
    """A Python codec name for the sample: a BOM decides; else UTF-8 if valid; else cp1250 or ISO-8859-2."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise ImportInputError("This looks like a binary file, not a CSV: it contains NUL bytes.")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return _central_european(sample)
    return "utf-8"


# Symbols (copyright, registered, guillemets, currency, section, degree, accents…) that a wrong guess
# between the two produces instead of letters.
_UNLIKELY = frozenset("\u00a9\u00ae\u00ab\u00bb\u00a4\u00a6\u00a7\u00a8\u00b0\u00b1\u00b4\u00b7\u00b8")


def _central_european(sample: bytes) -> str:
    # 0x80-0x9F are C1 control characters in ISO-8859-2 but letters (š, ž, ť, ś, ź …) in cp1250; where
    # they are absent, the two differ in 0xA0-0xBF (š ž ť in ISO-8859-2 are © ® « in cp1250).
    def score(encoding: str) -> int:
        text = sample.decode(encoding, errors="replace")
        letters = sum(ch in _CE_LETTERS for ch in text)
        junk = sum(ch == "\ufffd" or "\x80" <= ch <= "\x9f" or ch in _UNLIKELY for ch in text)
        return letters - 4 * junk

    return max(FALLBACK_ENCODINGS, key=score)


def detect_delimiter(sample: str, max_rows: int = 20) -> str:
    """The delimiter that splits the first rows of `sample` most consistently into the most fields.

    Rows are parsed as CSV, so delimiters inside quoted fields do not count; consistency with the data
    rows breaks ties such as `Email;"Phone, mobile"` (three fields either way on the header line alone).
    """

    def score(delimiter: str) -> tuple[bool, float, int]:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        try:
            rows = [row for row in itertools.islice(reader, max_rows) if any(f.strip() for f in row)]
        except csv.Error:
            return (False, 0.0, 0)
        if not rows:
            return (False, 0.0, 0)
        width = len(rows[0])
        consistent = sum(len(row) == width for row in rows) / len(rows)
        return (width > 1, consistent, width)

    scores = {d: score(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: scores[d])
    return best if scores[best][0] else ","


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
        headers = self.headers
        width = len(headers)
        for number, values in enumerate(self._reader, start=1):
            if number <= skip:
                continue
            if len(values) != width:
                if not "".join(values).strip():
                    continue
                if len(values) > width:
                    if "".join(values[width:]).strip():
                        yield number, {_RAGGED: f"row has {len(values)} fields, the header has {width}"}
                        continue
                    values = values[:width]  # trailing empty fields (a trailing delimiter) carry nothing
                else:
                    values += [""] * (width - len(values))
            elif not "".join(values).strip():  # a blank line, or only delimiters
                continue
            yield number, dict(zip(headers, values, strict=True))

    def count_rows(self) -> int:
        """The number of the last row `rows` would yield, reading the rest of the file (without building
        the rows)."""
        last = 0
        for number, values in enumerate(self._reader, start=1):
            if "".join(values).strip():
                last = number
        return last


# A row that cannot be mapped carries only this key; the importer reports it as rejected.
_RAGGED = "\x00ragged"


def ragged_reason(row: dict[str, str]) -> str | None:
    return row.get(_RAGGED)


def open_csv(raw: BinaryIO) -> CsvStream:
    sample = raw.read(SAMPLE_BYTES)
    encoding = detect_encoding(sample)
    text_sample = sample.decode(encoding, errors="ignore").lstrip("\ufeff")
    if not text_sample.strip():
        raise ImportInputError("The file is empty.")
    raw.seek(0)
    counter = _CountingReader(raw)
    text = io.TextIOWrapper(io.BufferedReader(counter), encoding=encoding, newline="")
    csv.field_size_limit(MAX_LINE_BYTES)
    # The last line of the sample may be cut mid-way; it must not sway the guess.
    delimiter = detect_delimiter(text_sample.rsplit("\n", 1)[0] if "\n" in text_sample else text_sample)
    reader = csv.reader(_checked_lines(text), delimiter=delimiter)
    try:
        # Blank lines before the header are skipped.
        header_row = next(row for row in reader if row)
    except StopIteration:
        raise ImportInputError("The file is empty.") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportInputError(f"The header row cannot be read: {exc}") from exc
    check_width(header_row)
    return CsvStream(encoding, delimiter, column_names(header_row), reader, counter)


def check_width(header_row: Sequence[str]) -> None:
    """Refuses a header of more than MAX_COLUMNS columns, before anything is done per column."""
    if len(header_row) > MAX_COLUMNS:
        raise ImportInputError(
            f"The header row has {len(header_row):,} columns; a file may have at most {MAX_COLUMNS:,}. "
            "Remove the columns you do not need and try again."
        )


def column_names(header_row: Sequence[str]) -> list[str]:
    """The header row's cells as the import's column names: trimmed, and an empty one named as
    spreadsheets show it ("Column 3"), so its values stay under a name a person can map.

    Raises ImportInputError for a row of only empty cells (a missing header) and for a name used twice,
    naming every repeated one. Linear in the number of columns (the width is checked apart).
    """
    names = [cell.strip() for cell in header_row]
    if not any(names):
        raise ImportInputError("The first row is empty; the file needs a header row naming its columns.")
    names = [name or f"Column {i}" for i, name in enumerate(names, start=1)]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ImportInputError(f"The header names column(s) more than once: {', '.join(repeated)}.")
    return names


def _checked_lines(text: io.TextIOWrapper) -> Iterator[str]:
    for line in text:
        if len(line) > MAX_LINE_BYTES:
            raise ImportInputError(f"A line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB.")
        if "\x00" in line:
            # PostgreSQL text cannot hold NUL, and no spreadsheet export contains one.
            raise ImportInputError("This looks like a binary file, not a CSV: it contains NUL bytes.")
        yield line


@dataclass
class Preview:
    encoding: str
    delimiter: str
    headers: list[str]
    rows: list[list[str]]


def preview(sample: bytes, *, truncated: bool, max_rows: int = 20) -> Preview:
    """What the import wizard shows before mapping: the detected format and the first rows.

    `sample` is the start of the file; when `truncated`, its last, probably cut, line is dropped.
    """
    if truncated:
        sample = _whole_lines(sample, detect_encoding(sample))
    stream = open_csv(io.BytesIO(sample))
    rows = []
    for _, row in itertools.islice(stream.rows(), max_rows + 1):
        rows.append([""] * len(stream.headers) if ragged_reason(row) else [row[h] for h in stream.headers])
    if truncated and len(rows) <= max_rows and rows:
        # The sample ends at a line break, which may be one inside a quoted field: the last record may be
        # cut short, and a preview shows fields exactly as written or not at all.
        rows.pop()
    return Preview(stream.encoding, stream.delimiter, stream.headers, rows[:max_rows])


def _whole_lines(sample: bytes, encoding: str) -> bytes:
    if encoding == "utf-16":
        newline = "\n".encode("utf-16-le" if sample.startswith(codecs.BOM_UTF16_LE) else "utf-16-be")
    else:
        newline = b"\n"  # the same byte in UTF-8, cp1250 and ISO-8859-2
    end = sample.rfind(newline)
    while end > 0 and len(newline) == 2 and end % 2:  # a UTF-16 code unit starts at an even offset
        end = sample.rfind(newline, 0, end)
    return sample[: end + len(newline)] if end > 0 else sample


def explain(exc: Exception) -> str:
    """Why a file cannot be read, for the person who uploaded it."""
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.start + 1].hex()
        return (
            f"The file is not entirely {exc.encoding}: further into the file there is a byte (0x{bad}) "
            f"that is not valid {exc.encoding}, so it was not imported. Save it as UTF-8 and import it again."
        )
    if isinstance(exc, csv.Error):
        return f"The file is not a well-formed CSV: {exc}."
    return str(exc)
