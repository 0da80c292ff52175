"""The directory file format without a database: reading, writing, rejecting with a line and a reason."""

from __future__ import annotations

import codecs
import io
import re

import pytest

from services.importer.directory.csv_file import DirectoryFileError, read_directory_csv, write_directory_csv
from services.importer.directory.rows import CSV_COLUMNS, DirectoryRow, parse_row
from services.importer.directory.sample import sample_rows

HEADER = ",".join(CSV_COLUMNS)


def csv_bytes(rows: list[DirectoryRow]) -> bytes:
    out = io.StringIO()
    write_directory_csv(rows, out)
    return out.getvalue().encode()


def parsed(data: bytes) -> list[tuple[int, DirectoryRow | str]]:
    return list(read_directory_csv(io.BytesIO(data)))


def row(**values: str) -> dict[str, str]:
    return {name: "" for name in CSV_COLUMNS} | {"company_name": "Firma s.r.o."} | values


def test_written_sample_reads_back_unchanged_with_line_numbers() -> None:
    rows = list(sample_rows(200, seed=9))
    back = parsed(csv_bytes(rows))
    assert [line for line, _ in back] == list(range(2, 202))
    assert [r for _, r in back] == rows


def test_columns_in_any_order_semicolons_cp1250_and_bom_load() -> None:
    columns = list(reversed(CSV_COLUMNS))
    values = {name: "" for name in CSV_COLUMNS} | {"company_name": "Dvořák Stavby s.r.o.", "city": "Plzeň", "size_min": "10", "size_max": "49"}  # fmt: skip
    text = ";".join(columns) + "\r\n" + ";".join(values[c] for c in columns) + "\r\n"
    for data in (text.encode("cp1250"), codecs.BOM_UTF8 + text.encode()):
        [(line, company)] = parsed(data)
        assert line == 2
        assert isinstance(company, DirectoryRow)
        assert (company.company_name, company.city, company.size_min, company.size_max) == ("Dvořák Stavby s.r.o.", "Plzeň", 10, 49)  # fmt: skip


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param(HEADER.replace(",email", ""), "missing column(s): email", id="missing"),
        pytest.param(HEADER + ",phone", "unknown column(s): 'phone'", id="unknown"),
        pytest.param(HEADER.replace("first_name", "email"), "column(s) named twice: email", id="twice"),
        pytest.param("Firma;E-mail", "missing column(s): country, city", id="another-format"),
    ],
)
def test_a_file_with_the_wrong_columns_loads_nothing(header: str, message: str) -> None:
    with pytest.raises(DirectoryFileError, match=re.escape(message)):
        read_directory_csv(io.BytesIO((header + "\n").encode() if header else b""))


def test_bad_rows_are_reported_with_their_first_line_and_reason() -> None:
    data = (
        f"{HEADER}\n"
        "CZ,Praha,IT,10,5,,,Obrácená s.r.o.,,,\n"
        "\n"
        'CZ,Praha,IT,,,,,"Dva\nřádky s.r.o.",,not-an-address,\n'
        "CZ,Praha,IT,1,9\n"
        "CZ,Brno,IT,1,9,0,199999,Dobrá s.r.o.,www.dobra.cz,Jan@Dobra.CZ,Jan\n"
    ).encode()
    results = parsed(data)
    assert [line for line, _ in results] == [2, 4, 6, 7]
    assert results[0][1] == "size_min (10) is greater than size_max (5)"
    assert isinstance(results[1][1], str) and results[1][1].startswith(
        "email 'not-an-address' is not an email address"
    )
    assert results[2][1] == "the row has 5 fields, the header has 11"
    good = results[3][1]
    assert isinstance(good, DirectoryRow) and good.email == "Jan@dobra.cz"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (row(company_name=""), "company_name is empty"),
        (row(company_name="   "), "company_name is empty"),
        (row(size_min="ten"), "size_min 'ten' is not a whole number"),
        (row(size_max="-1"), "size_max '-1' is not a whole number"),
        (row(revenue_min="1.5"), "revenue_min '1.5' is not a whole number"),
        (row(size_min="٣"), "size_min '٣' is not a whole number"),
        (row(size_max="20000000"), "size_max 20000000 is larger than 10,000,000"),
        (row(revenue_min="9", revenue_max="1"), "revenue_min (9) is greater than revenue_max (1)"),
        (row(email="petr@"), "email 'petr@' is not an email address"),
        (row(city="x" * 101), "city is 101 characters long; at most 100 are allowed"),
        (row(website="www.a\x00b.cz"), "website contains the NUL character (\\u0000) at position 5"),
    ],
)
def test_parse_row_refuses_bad_values_with_a_reason(values: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_row(values)


def test_parse_row_trims_and_turns_blanks_into_nothing() -> None:
    company = parse_row(
        row(country=" CZ ", city="", size_min=" 250 ", size_max="", email=" mailto:Eva@Firma.CZ ")
    )
    assert (company.country, company.city, company.size_min, company.size_max) == ("CZ", None, 250, None)
    assert company.email == "Eva@firma.cz"
