"""Reading an uploaded CSV: encoding and delimiter detection, row numbering, ragged rows, hostile bytes."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.importer.csv_source import (
    SAMPLE_BYTES,
    CsvStream,
    detect_delimiter,
    detect_encoding,
    open_csv,
    preview,
    ragged_reason,
)
from services.importer.domain import ImportInputError

Rows = list[tuple[int, dict[str, str]]]

CZECH = "Jméno;Příjmení;E-mail\nJiří;Čapek;jiri@example.cz\nBožena;Němcová;bozena@example.cz\n"
CZECH_HEADERS = ["Jméno", "Příjmení", "E-mail"]
CZECH_ROWS: Rows = [
    (1, {"Jméno": "Jiří", "Příjmení": "Čapek", "E-mail": "jiri@example.cz"}),
    (2, {"Jméno": "Božena", "Příjmení": "Němcová", "E-mail": "bozena@example.cz"}),
]


def _open(data: bytes) -> CsvStream:
    return open_csv(io.BytesIO(data))


def _read(data: bytes, skip: int = 0) -> tuple[CsvStream, Rows]:
    stream = _open(data)
    return stream, list(stream.rows(skip=skip))


# --- encodings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        pytest.param(CZECH.encode("utf-8"), "utf-8", id="utf-8"),
        pytest.param(CZECH.replace("\n", "\r\n").encode("utf-8"), "utf-8", id="utf-8-crlf"),
        pytest.param(codecs.BOM_UTF8 + CZECH.encode("utf-8"), "utf-8-sig", id="utf-8-bom"),
        pytest.param(CZECH.encode("utf-16"), "utf-16", id="utf-16-native-bom"),
        pytest.param(codecs.BOM_UTF16_LE + CZECH.encode("utf-16-le"), "utf-16", id="utf-16-le-bom"),
        pytest.param(codecs.BOM_UTF16_BE + CZECH.encode("utf-16-be"), "utf-16", id="utf-16-be-bom"),
        pytest.param(CZECH.encode("cp1250"), "cp1250", id="cp1250"),
        pytest.param(CZECH.replace("\n", "\r\n").encode("cp1250"), "cp1250", id="cp1250-crlf"),
    ],
)
def test_encodings_are_detected_and_decoded(data: bytes, encoding: str) -> None:
    stream, rows = _read(data)
    assert stream.encoding == encoding
    assert stream.delimiter == ";"
    assert stream.headers == CZECH_HEADERS  # no BOM left on the first header
    assert rows == CZECH_ROWS
    assert stream.bytes_read == len(data)


def test_cp1250_example_from_the_issue() -> None:
    stream, rows = _read("Jméno;Příjmení\nJiří;Čapek\n".encode("cp1250"))
    assert (stream.encoding, stream.headers) == ("cp1250", ["Jméno", "Příjmení"])
    assert rows == [(1, {"Jméno": "Jiří", "Příjmení": "Čapek"})]


@pytest.mark.parametrize(
    ("sample", "encoding"),
    [
        (b"email,name\n", "utf-8"),
        ("email,jméno\n".encode(), "utf-8"),
        # A sample cut in the middle of a multi-byte character is still UTF-8.
        ("email,jméno\n".encode()[:-4], "utf-8"),
        (codecs.BOM_UTF8 + b"email\n", "utf-8-sig"),
        (codecs.BOM_UTF16_LE + "email\n".encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + "email\n".encode("utf-16-be"), "utf-16"),
        ("email;jméno\n".encode("cp1250"), "cp1250"),
        ("Žluťoučký kůň".encode("cp1250"), "cp1250"),
        (b"\xff\xff\xff", "cp1250"),
    ],
)
def test_detect_encoding(sample: bytes, encoding: str) -> None:
    assert detect_encoding(sample) == encoding


@pytest.mark.parametrize(
    "sample", [b"a,b\n\x00", b"\x00", b"PK\x03\x04\x14\x00\x06\x00", b"%PDF-1.4\n\x00\x00"]
)
def test_detect_encoding_refuses_nul_bytes(sample: bytes) -> None:
    with pytest.raises(ImportInputError, match="binary"):
        detect_encoding(sample)


def test_invalid_utf8_after_the_sample_surfaces_as_unicode_decode_error() -> None:
    data = b"email\n" + b"a@b.cz\n" * (SAMPLE_BYTES // 7 + 1) + "x@y.cz;Jiří\n".encode("cp1250")
    stream = _open(data)
    assert stream.encoding == "utf-8"
    with pytest.raises(UnicodeDecodeError):
        list(stream.rows())


# --- delimiters ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [
        ("email,name,city", ","),
        ("email;name;city", ";"),
        ("email\tname\tcity", "\t"),
        ("email|name|city", "|"),
        ("email", ","),
        ("", ","),
        ("a;b;c,d", ";"),
        ("a\tb\tc|d|e,f", "\t"),
    ],
)
def test_detect_delimiter(line: str, delimiter: str) -> None:
    assert detect_delimiter(line) == delimiter


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_round_trips(delimiter: str) -> None:
    data = delimiter.join(["email", "name", "note"]) + "\n" + delimiter.join(["a@b.cz", "Jan", "x"]) + "\n"
    stream, rows = _read(data.encode())
    assert stream.delimiter == delimiter
    assert stream.headers == ["email", "name", "note"]
    assert rows == [(1, {"email": "a@b.cz", "name": "Jan", "note": "x"})]


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        # Quoted header names containing another candidate delimiter must not decide the delimiter.
        pytest.param(
            b'Email;"Phone, mobile";"City, region"\nx@y.cz;123;Praha\n',
            ["Email", "Phone, mobile", "City, region"],
            id="semicolon-file-commas-in-quoted-headers",
        ),
        pytest.param(
            b'"Name, first";Email\n"Novak, Jan";jan@x.cz\n',
            ["Name, first", "Email"],
            id="semicolon-file-comma-in-one-quoted-header",
        ),
    ],
)
def test_delimiter_inside_quoted_header_is_ignored(data: bytes, headers: list[str]) -> None:
    stream = _open(data)
    assert stream.delimiter == ";"
    assert stream.headers == headers


# --- quoting, blank lines, ragged and short rows -------------------------------------------------------


def test_quoted_fields_with_embedded_newlines_delimiters_and_quotes() -> None:
    data = (
        b"email,note,company\r\n"
        b'a@b.cz,"line one\r\nline two","ACME, s.r.o."\r\n'
        b'c@d.cz,"say ""hi""; bye",\r\n'
        b'e@f.cz,"multi\nline\n\nwith blank",x\r\n'
    )
    _, rows = _read(data)
    assert rows == [
        (1, {"email": "a@b.cz", "note": "line one\r\nline two", "company": "ACME, s.r.o."}),
        (2, {"email": "c@d.cz", "note": 'say "hi"; bye', "company": ""}),
        (3, {"email": "e@f.cz", "note": "multi\nline\n\nwith blank", "company": "x"}),
    ]


def test_blank_lines_are_skipped_but_keep_their_number() -> None:
    data = b"email,name\n\na@b.cz,A\n\n  \n,\n , \t\nc@d.cz,C\n\n\n"
    _, rows = _read(data)
    # Numbers count CSV records after the header, blank ones included, so `rows(skip=n)` can resume.
    assert rows == [(2, {"email": "a@b.cz", "name": "A"}), (7, {"email": "c@d.cz", "name": "C"})]


def test_headers_are_stripped() -> None:
    stream = _open(b" email , First Name ,\tcity\t\n")
    assert stream.headers == ["email", "First Name", "city"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            b"a,b\n1,2,3\n4,5\n",
            [(1, "row has 3 fields, the header has 2"), (2, None)],
            id="one-extra-field",
        ),
        pytest.param(
            b"a;b\n1;2;;\n",
            [(1, None)],  # a trailing delimiter adds only empty fields: nothing is lost, nothing to report
            id="trailing-empty-fields",
        ),
        pytest.param(
            b'a,b\n"x,y",z\n1,"2,3",4\n',
            [(1, None), (2, "row has 3 fields, the header has 2")],
            id="quoted-delimiter-is-not-ragged",
        ),
    ],
)
def test_ragged_rows_are_reported(data: bytes, expected: list[tuple[int, str | None]]) -> None:
    _, rows = _read(data)
    assert [(n, ragged_reason(row)) for n, row in rows] == expected
    for _, row in rows:
        if ragged_reason(row) is not None:
            assert len(row) == 1  # nothing else that could be mapped


@pytest.mark.parametrize(
    ("data", "row"),
    [
        (b"a,b,c\n1\n", {"a": "1", "b": "", "c": ""}),
        (b"a,b,c\n1,2\n", {"a": "1", "b": "2", "c": ""}),
        (b"a;b;c\n;2\n", {"a": "", "b": "2", "c": ""}),
        (b"a,b,c\n1,2,3\n", {"a": "1", "b": "2", "c": "3"}),
    ],
)
def test_short_rows_are_padded(data: bytes, row: dict[str, str]) -> None:
    _, rows = _read(data)
    assert rows == [(1, row)]
    assert ragged_reason(rows[0][1]) is None


def test_values_are_not_stripped() -> None:
    _, rows = _read(b"a,b\n  x  ,\ty\n")
    assert rows == [(1, {"a": "  x  ", "b": "\ty"})]


def test_no_trailing_newline() -> None:
    _, rows = _read(b"a,b\n1,2")
    assert rows == [(1, {"a": "1", "b": "2"})]


def test_header_only_file_has_no_rows() -> None:
    stream, rows = _read(b"email,name\r\n")
    assert (stream.headers, rows) == (["email", "name"], [])


# --- resuming --------------------------------------------------------------------------------------------

RESUMABLE = b'email,note\na@b.cz,1\n\nc@d.cz,"two\nlines"\ne@f.cz,1,extra\ng@h.cz\n , \ni@j.cz,last\n'


@pytest.mark.parametrize("skip", range(9))
def test_rows_skip_resumes_after_row_n_with_the_same_numbers(skip: int) -> None:
    _, everything = _read(RESUMABLE)
    assert [n for n, _ in everything] == [1, 3, 4, 5, 7]
    _, resumed = _read(RESUMABLE, skip=skip)
    assert resumed == [(n, row) for n, row in everything if n > skip]


# --- files that cannot be imported ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   ", id="spaces"),
        pytest.param(b"\n", id="newline"),
        pytest.param(b"\r\n\r\n\t \n  ", id="whitespace"),
        pytest.param(codecs.BOM_UTF8, id="utf-8-bom-only"),
        pytest.param(codecs.BOM_UTF16_LE, id="utf-16-bom-only"),
    ],
)
def test_empty_file(data: bytes) -> None:
    with pytest.raises(ImportInputError, match=r"^The file is empty\.$"):
        _open(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"email,name\n\x00\x01\x02", id="nul-in-data"),
        pytest.param(b"\x00\x00\x00\x00", id="only-nul"),
        pytest.param(b"PK\x03\x04\x14\x00\x06\x00\x08\x00", id="zip-xlsx"),
        pytest.param(b"email\x00,name\n", id="nul-in-header"),
    ],
)
def test_file_with_nul_bytes_is_binary(data: bytes) -> None:
    with pytest.raises(ImportInputError, match="binary"):
        _open(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b"email,name\n" + b"a@b.cz,A\n" * (SAMPLE_BYTES // 9 + 1) + b"c@d.cz,\x00\x01\n",
            id="nul-after-the-sample",
        ),
        pytest.param(codecs.BOM_UTF8 + b"email,name\na@b.cz,\x00\x01\n", id="nul-in-utf-8-bom-file"),
        pytest.param("email,name\na@b.cz,\x00\n".encode("utf-16"), id="nul-character-in-utf-16-file"),
    ],
)
def test_nul_never_reaches_a_row(data: bytes) -> None:
    """PostgreSQL text cannot hold NUL; such a file must end in a clear input error, not in a row value."""
    with pytest.raises(ImportInputError, match=r"binary|NUL"):
        list(_open(data).rows())


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"email,name,email\n", "email"),
        (b"email;Email; email \n", "email"),
        (b"a,b,a,b,c\n", "a, b"),
    ],
)
def test_duplicate_header_names(data: bytes, names: str) -> None:
    with pytest.raises(ImportInputError, match=f"more than once: {names}\\.$"):
        _open(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b",,,\na,b,c,d\n", id="only-delimiters"),
        pytest.param(b'"",""\na,b\n', id="empty-quoted"),
    ],
)
def test_empty_header_row(data: bytes) -> None:
    with pytest.raises(ImportInputError, match="header row"):
        _open(data)


def test_blank_lines_before_the_header_are_skipped() -> None:
    stream = _open(b"\r\n\nemail\na@b.cz\n")
    assert stream.headers == ["email"]
    assert list(stream.rows()) == [(1, {"email": "a@b.cz"})]


def test_unnamed_columns_get_spreadsheet_names() -> None:
    stream = _open(b"a,,,b\n1,2,3,4\n")
    assert stream.headers == ["a", "Column 2", "Column 3", "b"]
    assert list(stream.rows()) == [(1, {"a": "1", "Column 2": "2", "Column 3": "3", "b": "4"})]


def test_unreadable_header_row() -> None:
    with pytest.raises(ImportInputError, match="header row cannot be read"):
        _open(b"email,name\xc3")  # UTF-8 sample whose last character is cut off


def test_line_longer_than_the_limit() -> None:
    data = b"email,note\na@b.cz," + b"x" * (1024 * 1024 + 1) + b"\n"
    with pytest.raises(ImportInputError, match="longer than 1 MB"):
        list(_open(data).rows())


# --- properties ------------------------------------------------------------------------------------------


CLEAR_ERRORS = (ImportInputError, UnicodeDecodeError, csv.Error)


def _consume(data: bytes) -> None:
    stream = open_csv(io.BytesIO(data))
    for number, row in stream.rows():
        assert number >= 1
        assert isinstance(row, dict)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_end_in_rows_or_a_clear_error(data: bytes) -> None:
    # Anything else escaping (IndexError, ValueError, LookupError, ...) fails the test with its type.
    with contextlib.suppress(*CLEAR_ERRORS):
        _consume(data)


csvish_bytes = st.builds(
    lambda prefix, parts: prefix + b"".join(parts),
    st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]),
    st.lists(
        st.sampled_from(
            [
                *(bytes([b]) for b in b'aE,;\t|"\n\r '),
                *(b"\xc3\xa9", b"\xc3", b"\x9a", b"\x00", b"\x81", b"\x0b", b"\x85", b"\xe2\x80\xa8"),
                *(codecs.BOM_UTF8, codecs.BOM_UTF16_LE),
            ]
        ),
        max_size=80,
    ),
)


@settings(max_examples=200, deadline=None)
@given(csvish_bytes)
def test_csv_like_bytes_end_in_rows_or_a_clear_error(data: bytes) -> None:
    # Anything else escaping (IndexError, ValueError, LookupError, ...) fails the test with its type.
    with contextlib.suppress(*CLEAR_ERRORS):
        _consume(data)


header_names = st.lists(
    st.text(alphabet="abcXYZ_- 0éřŽ", min_size=1, max_size=6).map(str.strip).filter(bool),
    min_size=2,
    max_size=5,
    unique=True,
)
cell = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=8,
)


@settings(max_examples=100, deadline=None)
@given(
    header_names,
    st.lists(st.lists(cell, min_size=0, max_size=6), max_size=8),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom"]),
    # A bare "\r" in a value is only quoted by the writer when "\r" is part of its line terminator.
    st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_ALL), ("\r\n", csv.QUOTE_ALL)]),
    st.data(),
)
def test_written_csv_reads_back(
    headers: list[str],
    records: list[list[str]],
    delimiter: str,
    encoding: str,
    dialect: tuple[str, Literal[0, 1, 2, 3]],
    data: st.DataObject,
) -> None:
    width = len(headers)
    out = io.StringIO()
    newline, quoting = dialect
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline, quoting=quoting)
    writer.writerow(headers)
    writer.writerows(records)
    text = out.getvalue()
    raw = (
        codecs.BOM_UTF16_BE + text.encode("utf-16-be")
        if encoding == "utf-16-be-bom"
        else text.encode(encoding)
    )

    expected: Rows = []
    for number, values in enumerate(records, start=1):
        if not any(v.strip() for v in values):
            continue
        if len(values) > width and any(v.strip() for v in values[width:]):
            expected.append((number, {"\x00ragged": f"row has {len(values)} fields, the header has {width}"}))
        elif len(values) > width:
            expected.append((number, dict(zip(headers, values[:width], strict=True))))
        else:
            expected.append((number, dict(zip(headers, values + [""] * (width - len(values)), strict=True))))

    stream, rows = _read(raw)
    assert stream.delimiter == delimiter
    assert stream.headers == headers
    assert rows == expected
    assert stream.bytes_read == len(raw)

    skip = data.draw(st.integers(0, len(records) + 1), label="skip")
    assert list(_open(raw).rows(skip=skip)) == [(n, r) for n, r in expected if n > skip]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(
            st.text(alphabet="abc ,;\"\n'áčďéěíňóřšťúůýžÁČĎÉĚÍŇÓŘŠŤÚŮÝŽ", max_size=6), min_size=3, max_size=3
        ),
        max_size=6,
    )
)
def test_cp1250_export_reads_back(records: list[list[str]]) -> None:
    headers = ["Jméno", "Příjmení", "Poznámka"]
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows([headers, *records])
    stream, rows = _read(out.getvalue().encode("cp1250"))
    assert stream.encoding == "cp1250"
    assert rows == [
        (n, dict(zip(headers, values, strict=True)))
        for n, values in enumerate(records, start=1)
        if any(v.strip() for v in values)
    ]


# RFC 4180: a quoted field holds line breaks, and they are part of its content exactly as written; the
# line breaks between records (CRLF, LF or a lone CR) only end records.
@pytest.mark.parametrize("record_end", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("inside", ["\r\n", "\n", "\r", "\r\n\r\n", "\n\r"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1250"])
def test_quoted_line_breaks_are_kept_exactly_as_written(record_end: str, inside: str, encoding: str) -> None:
    text = record_end.join(
        ["email,note,city", f'a@firma.cz,"první{inside}druhá",Brno', f'"b@firma.cz","{inside}",Plzeň', ""]
    )
    _, rows = _read(text.encode(encoding))
    assert rows == [
        (1, {"email": "a@firma.cz", "note": f"první{inside}druhá", "city": "Brno"}),
        (2, {"email": "b@firma.cz", "note": inside, "city": "Plzeň"}),
    ]
    shown = preview(text.encode(encoding), truncated=False)
    assert shown.rows == [["a@firma.cz", f"první{inside}druhá", "Brno"], ["b@firma.cz", inside, "Plzeň"]]


_field_text = st.text(alphabet=st.sampled_from(list('ab ,;"\r\n\tčŽ')), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_field_text, min_size=3, max_size=3), min_size=1, max_size=8),
    st.sampled_from([csv.QUOTE_ALL, csv.QUOTE_MINIMAL]),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["utf-8", "utf-16", "cp1250"]),
)
def test_every_field_written_by_the_csv_module_reads_back_unchanged(
    rows: list[list[str]], quoting: Literal[0, 1], delimiter: str, encoding: str
) -> None:
    out = io.StringIO()
    # CRLF record ends, as RFC 4180 and Excel write them (the csv module then quotes any field with CR/LF).
    writer = csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator="\r\n")
    writer.writerow(["email", "note", "x"])
    writer.writerows(rows)
    data = out.getvalue().encode(encoding)
    _, read = _read(data)
    expected = [r for r in rows if "".join(r).strip()]  # blank records carry nothing and are skipped
    assert [[row["email"], row["note"], row["x"]] for _, row in read] == expected
    assert preview(data, truncated=False).rows == expected[:20]


def test_a_truncated_preview_never_shows_a_field_cut_at_a_line_break_inside_it() -> None:
    text = 'email,note\r\na@firma.cz,"one\r\ntwo"\r\nb@firma.cz,"three\r\nfour\r\nfive"\r\n'
    data = text.encode()
    cut = data[: data.index(b"four") + 6]  # a sample that ends after "four\r\n", inside the quotes
    assert preview(cut, truncated=True).rows == [["a@firma.cz", "one\r\ntwo"]]
