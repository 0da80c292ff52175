"""A file's header row: the column names an import uses, the width it accepts, the mapping it suggests.

All of it runs on whatever a user uploads, so the work must grow linearly with the number of columns: a
40,000-column header once kept the importer busy for 17 seconds (`headers.count(h)` for every header).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.commands import LEAD_FIELDS, PreviewReply
from contracts.replies import Refusal, RefusalKind
from services.importer.csv_source import MAX_COLUMNS, check_width, column_names, open_csv, preview
from services.importer.domain import HEADER_SYNONYMS, ImportInputError, _header_key, suggest_mapping
from services.importer.preview_pool import preview_reply

MANY = 100_000


class Cell(str):
    """A header cell that counts how often any cell is compared for equality, and stops a quadratic
    algorithm at its budget instead of letting it run for hours."""

    comparisons: ClassVar[int] = 0
    budget: ClassVar[int] = 0

    def __eq__(self, other: object) -> bool:
        Cell.comparisons += 1
        if Cell.comparisons > Cell.budget:
            raise AssertionError(f"more than {Cell.budget:,} comparisons of header cells")
        return str.__eq__(self, other)

    __hash__ = str.__hash__

    def strip(self, chars: str | None = None) -> Cell:
        return Cell(str.strip(self, chars))


@pytest.mark.parametrize(
    ("row", "names"),
    [
        (["Email", " Name ", "\tFirma"], ["Email", "Name", "Firma"]),
        (["Email", "", "Phone", "  "], ["Email", "Column 2", "Phone", "Column 4"]),
        (["", "email"], ["Column 1", "email"]),
        (["E-mail"], ["E-mail"]),
        (["email", "Email"], ["email", "Email"]),  # names are case-sensitive, as the mapping is
    ],
)
def test_column_names_are_trimmed_and_empty_ones_named_by_position(row: list[str], names: list[str]) -> None:
    assert column_names(row) == names


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["", " ", ""], "The first row is empty"),
        (["email", "name", "email"], "more than once: email."),
        (["b", "a", "b ", "a", "c"], "more than once: a, b."),
        (["Column 2", ""], "more than once: Column 2."),
    ],
)
def test_a_missing_header_or_a_repeated_name_is_refused(row: list[str], message: str) -> None:
    with pytest.raises(ImportInputError, match=message.replace(".", r"\.")):
        column_names(row)


def test_naming_a_hundred_thousand_columns_compares_each_name_a_bounded_number_of_times() -> None:
    Cell.comparisons, Cell.budget = 0, MANY
    row = [Cell(f"column {i}") for i in range(MANY)]
    assert column_names(row) == [f"column {i}" for i in range(MANY)]
    Cell.comparisons, Cell.budget = 0, MANY
    with pytest.raises(ImportInputError, match="more than once: column 7"):
        column_names([*row, Cell("column 7")])


def test_a_header_wider_than_the_limit_is_refused_with_the_numbers() -> None:
    check_width(["c"] * MAX_COLUMNS)
    with pytest.raises(ImportInputError) as refused:
        check_width(["c"] * 40_000)
    assert str(refused.value) == (
        "The header row has 40,000 columns; a file may have at most 1,000. "
        "Remove the columns you do not need and try again."
    )


def test_a_file_wider_than_the_limit_is_refused_before_its_names_are_looked_at() -> None:
    # Every name repeated: were the names checked first, the message would be about them.
    wide = (",".join(["same"] * (MAX_COLUMNS + 1)) + "\n" + "x\n").encode()
    with pytest.raises(ImportInputError, match="1,001 columns"):
        open_csv(io.BytesIO(wide))
    reply = preview_reply(wide, False)
    assert isinstance(reply, Refusal) and reply.kind is RefusalKind.INVALID
    assert "at most 1,000" in reply.message


def test_a_file_as_wide_as_the_limit_previews_with_a_mapping() -> None:
    header = ["E-mail", "Jméno", *(f"extra {i}" for i in range(MAX_COLUMNS - 2))]
    data = (
        ",".join(header) + "\n" + ",".join(["jana@firma.cz", "Jana", *["x"] * (MAX_COLUMNS - 2)]) + "\n"
    ).encode()
    assert preview(data, truncated=False).headers == header
    reply = preview_reply(data, False)
    assert isinstance(reply, PreviewReply) and reply.headers == header
    assert reply.suggested_mapping == {"email": "E-mail", "first_name": "Jméno"}


def suggest_mapping_by_field(headers: Sequence[str]) -> dict[str, str]:
    """The suggestion as first written: for each field, every header in turn (the reference)."""
    keys = {header: _header_key(header) for header in headers}
    suggestion: dict[str, str] = {}
    taken: set[str] = set()
    for exact in (True, False):
        for field_name, synonyms in HEADER_SYNONYMS.items():
            if field_name in suggestion:
                continue
            for header, key in keys.items():
                if header in taken or not key:
                    continue
                hit = key in synonyms if exact else any(len(s) >= 4 and s in key for s in synonyms)
                if hit:
                    suggestion[field_name] = header
                    taken.add(header)
                    break
    return {name: suggestion[name] for name in LEAD_FIELDS if name in suggestion}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["E-mail", "Jméno", "Příjmení", "Firma"],
            {"email": "E-mail", "first_name": "Jméno", "last_name": "Příjmení", "company_name": "Firma"},
        ),
        (["Work e-mail", "Email"], {"email": "Email"}),  # an exact spelling wins over a containing one
        (["Work e-mail", "Notes"], {"email": "Work e-mail"}),
        (["Company e-mail address"], {"email": "Company e-mail address"}),  # one header, one field
        (["tel", "hotel"], {"phone": "tel"}),  # short spellings only match exactly
        (["!!!", "", "Město"], {"city": "Město"}),
        (["Email", "Email"], {"email": "Email"}),
        ([], {}),
    ],
)
def test_suggested_mapping(headers: list[str], expected: dict[str, str]) -> None:
    assert suggest_mapping(headers) == expected


SPELLINGS = [s for spellings in HEADER_SYNONYMS.values() for s in spellings]
header_text = st.one_of(
    st.sampled_from(SPELLINGS),
    st.builds(
        lambda a, s, b: f"{a}{s}{b}",
        st.sampled_from(["", "Work ", "x_", "É-"]),
        st.sampled_from(SPELLINGS),
        st.sampled_from(["", " 2", "ová", "!"]),
    ),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(header_text, max_size=25))
def test_the_linear_suggestion_is_the_one_field_by_field(headers: list[str]) -> None:
    assert suggest_mapping(headers) == suggest_mapping_by_field(headers)


def test_a_hundred_thousand_headers_get_a_suggestion() -> None:
    headers = [f"custom field {i}" for i in range(MANY)] + ["Kontaktní e-mail", "Telefon"]
    assert suggest_mapping(headers) == {"email": "Kontaktní e-mail", "phone": "Telefon"}
