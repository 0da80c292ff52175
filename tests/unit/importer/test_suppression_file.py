"""Reading an uploaded suppression list: the address column, headerless files, every row accounted for."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.importer.domain import ImportInputError
from services.importer.suppressions.file import ListedAddress, RejectedRow, read_suppression_file


def _read(text: str, encoding: str = "utf-8") -> tuple[list[tuple[int, str]], int, list[tuple[int, str]]]:
    listed = read_suppression_file(io.BytesIO(text.encode(encoding)))
    return (
        [(a.row, a.email) for a in listed.addresses],
        listed.repeated,
        [(r.row, r.value) for r in listed.rejected],
    )


@pytest.mark.parametrize(
    ("text", "addresses", "repeated", "rejected"),
    [
        # no header: the first row is an address too
        ("a@firma.cz\nb@firma.cz\n", [(1, "a@firma.cz"), (2, "b@firma.cz")], 0, []),
        # a header naming the email column, not the first one
        (
            "Jméno;E-mail\nJan;Jan@Firma.CZ\nEva;eva@firma.cz\n",
            [(2, "Jan@firma.cz"), (3, "eva@firma.cz")],
            0,
            [],
        ),
        # a header without an email name: the first column
        ("Adresa,Poznámka\nx@firma.cz,old\n", [(2, "x@firma.cz")], 0, []),
        # repeats (case-folded) are counted, bad rows rejected with their value, blank rows skipped
        (
            'email\na@firma.cz\n\nA@FIRMA.cz\nnot-an-address\n""\nmailto:c@firma.cz\n',
            [(2, "a@firma.cz"), (7, "c@firma.cz")],
            1,
            [(5, "not-an-address")],
        ),
        # an empty email cell in a row that has other values is a rejection
        ("email,note\n,called us\n", [], 0, [(2, "")]),
        # too many fields
        ("email\nq@firma.cz\nr@firma.cz,x,y\n", [(2, "q@firma.cz")], 0, [(3, "")]),
    ],
)
def test_suppression_files_give_every_address_and_every_bad_row(
    text: str, addresses: list[tuple[int, str]], repeated: int, rejected: list[tuple[int, str]]
) -> None:
    assert _read(text) == (addresses, repeated, rejected)


def test_rejections_say_why() -> None:
    listed = read_suppression_file(io.BytesIO(b"email,note\nnope,\n,x\n"))
    assert listed.rejected[0] == RejectedRow(2, "nope", listed.rejected[0].reason)
    assert listed.rejected[0].reason.startswith("not an email address:")
    assert listed.rejected[1].reason == "the address cell is empty"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1250"])
def test_any_encoding_an_import_reads(encoding: str) -> None:
    text = "Příjmení;E-mail\r\nČapek;jiri@firma.cz\r\nŽák;zak@firma.cz\r\n"
    assert _read(text, encoding)[0] == [(2, "jiri@firma.cz"), (3, "zak@firma.cz")]


def test_a_file_that_is_not_a_csv_is_refused() -> None:
    with pytest.raises(ImportInputError):
        read_suppression_file(io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00"))


_local = st.text(alphabet="abcxyz019.-_", min_size=1, max_size=8).filter(
    lambda s: s[0] not in ".-" and s[-1] not in ".-" and ".." not in s
)
_address = st.builds(
    lambda local, domain: f"{local}@{domain}.cz", _local, st.sampled_from(["firma", "Firma"])
)
_junk = st.sampled_from(["", "   ", "no at sign", "two@@firma.cz", "x@", "@firma.cz"])


@settings(max_examples=200)
@given(
    st.lists(st.one_of(_address, _junk), min_size=1, max_size=30),
    st.booleans(),
    st.sampled_from([",", ";", "\t"]),
)
def test_every_non_blank_row_is_an_address_a_repeat_or_a_rejection(
    cells: list[str], header: bool, delimiter: str
) -> None:
    if not header:
        cells = ["first@firma.cz", *cells]  # without a header, a first row that is no address is one
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    if header:
        writer.writerow(["email", "note"])
    for cell in cells:
        writer.writerow([cell, "n"])
    listed = read_suppression_file(io.BytesIO(out.getvalue().encode()))
    assert len(listed.addresses) + listed.repeated + len(listed.rejected) == len(cells)
    offset = 2 if header else 1
    for address in listed.addresses:
        assert address == ListedAddress(address.row, address.email, address.email.lower())
        assert cells[address.row - offset].strip().lower() == address.key
    assert len({a.key for a in listed.addresses}) == len(listed.addresses)
    for rejection in listed.rejected:
        assert rejection.value == cells[rejection.row - offset].strip()
