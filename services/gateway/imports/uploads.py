"""What an upload brings besides its bytes, checked: the column mapping, the file's name and size."""

from __future__ import annotations

import json

from fastapi import HTTPException, UploadFile, status

from contracts.commands import LEAD_FIELDS
from contracts.text import check_text


def parse_mapping(raw: str) -> dict[str, str]:
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"`mapping` is not valid JSON: {exc.msg}.") from exc
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise HTTPException(
            422, '`mapping` must be a JSON object of field → column, e.g. {"email": "E-mail"}.'
        )
    for field, column in mapping.items():
        try:
            check_text(field)
        except ValueError as exc:
            raise HTTPException(422, f"`mapping`: a field name {exc}.") from exc
        try:
            check_text(column)
        except ValueError as exc:
            raise HTTPException(422, f"`mapping`: the column for `{field}` {exc}.") from exc
    unknown = sorted(set(mapping) - set(LEAD_FIELDS))
    if unknown:
        raise HTTPException(
            422,
            f"Unknown field(s) in `mapping`: {', '.join(unknown)}. Known fields: {', '.join(LEAD_FIELDS)}.",
        )
    if not mapping.get("email"):
        raise HTTPException(
            422, "No column is mapped to `email`; map the column that holds the email address."
        )
    return {k: v for k, v in mapping.items() if v}


FILENAME_MAX = 500


def upload_filename(file: UploadFile) -> str:
    """The uploaded file's name as the client gave it ("" for none), checked as any other text is."""
    name = file.filename or ""
    try:
        check_text(name)
    except ValueError as exc:
        raise HTTPException(422, f"The file's name {exc}.") from exc
    if len(name) > FILENAME_MAX:
        raise HTTPException(
            422, f"The file's name is {len(name):,} characters; at most {FILENAME_MAX} are kept."
        )
    return name


def checked_size(file: UploadFile, limit: int) -> int:
    if file.size is not None:
        size = file.size
    else:
        file.file.seek(0, 2)
        size = file.file.tell()
        file.file.seek(0)
    if size == 0:
        raise HTTPException(422, "The file is empty.")
    if size > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"The file is {size:,} bytes; the limit is {limit:,} bytes.",
        )
    return size
