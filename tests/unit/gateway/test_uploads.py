"""What an upload brings besides its bytes: the column mapping, the file's name and its size, each
refused with a message a person can act on, never passed on half-checked."""

from __future__ import annotations

import io
import json

import pytest
from fastapi import HTTPException, UploadFile
from hypothesis import given
from hypothesis import strategies as st

from contracts.commands import LEAD_FIELDS
from services.gateway.imports.uploads import FILENAME_MAX, checked_size, parse_mapping, upload_filename


@pytest.mark.parametrize(
    ("raw", "status", "says"),
    [
        ("{", 422, "not valid JSON"),
        ('["email"]', 422, "must be a JSON object"),
        ('{"email": 1}', 422, "must be a JSON object"),
        ('{"email": "E-mail", "shoe_size": "Size"}', 422, "Unknown field(s) in `mapping`: shoe_size"),
        ('{"first_name": "Jméno"}', 422, "No column is mapped to `email`"),
        ('{"email": ""}', 422, "No column is mapped to `email`"),
        ('{"email": "E-mail\\u0000"}', 422, "the column for `email`"),
    ],
)
def test_a_mapping_that_cannot_be_used_is_refused(raw: str, status: int, says: str) -> None:
    with pytest.raises(HTTPException) as refused:
        parse_mapping(raw)
    assert refused.value.status_code == status and says in refused.value.detail


def test_a_field_mapped_to_no_column_is_left_out() -> None:
    assert parse_mapping('{"email": "E-mail", "city": "", "first_name": "Jméno"}') == {
        "email": "E-mail",
        "first_name": "Jméno",
    }


columns = st.text(st.characters(categories=["L", "N", "Zs", "P"]), min_size=1, max_size=30)


@given(st.dictionaries(st.sampled_from(LEAD_FIELDS), columns), columns)
def test_a_mapping_of_known_fields_with_an_email_column_is_kept_as_given(
    mapping: dict[str, str], email_column: str
) -> None:
    mapping["email"] = email_column
    assert parse_mapping(json.dumps(mapping)) == mapping


def upload(content: bytes, filename: str | None = "leads.csv", size: int | None = None) -> UploadFile:
    return UploadFile(io.BytesIO(content), filename=filename, size=size)


@pytest.mark.parametrize(
    ("filename", "kept"),
    [("leads.csv", "leads.csv"), (None, ""), ("Kontakty září.csv", "Kontakty září.csv")],
)
def test_a_file_name_is_kept_as_the_client_gave_it(filename: str | None, kept: str) -> None:
    assert upload_filename(upload(b"x", filename)) == kept


@pytest.mark.parametrize(
    ("filename", "says"), [("a\u0000.csv", "The file's name"), ("x" * (FILENAME_MAX + 1), "at most 500")]
)
def test_a_file_name_no_one_could_show_is_refused(filename: str, says: str) -> None:
    with pytest.raises(HTTPException) as refused:
        upload_filename(upload(b"x", filename))
    assert refused.value.status_code == 422 and says in refused.value.detail


@pytest.mark.parametrize(
    ("content", "size", "limit", "status"),
    [
        (b"email\n", None, 100, None),
        (b"email\n", 6, 100, None),
        (b"", None, 100, 422),
        (b"x" * 101, None, 100, 413),
        (b"x" * 100, None, 100, None),
        (b"x", 101, 100, 413),  # the size the request declared, when it declared one
    ],
)
def test_an_empty_or_too_large_file_is_refused(
    content: bytes, size: int | None, limit: int, status: int | None
) -> None:
    file = upload(content, size=size)
    if status is None:
        assert checked_size(file, limit) == (size if size is not None else len(content))
        assert file.file.tell() == 0  # measured without moving where the upload is read from
        return
    with pytest.raises(HTTPException) as refused:
        checked_size(file, limit)
    assert refused.value.status_code == status
