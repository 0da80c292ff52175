"""The suppression list as the API takes and answers it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from contracts.commands import RejectedSuppressionRow
from contracts.text import SAFE_TEXT, Text

EMAIL_MAX = 320
# Parameters carry their bounds inside, before the check (see contracts/text.py).
Address = Annotated[str, StringConstraints(min_length=1, max_length=EMAIL_MAX), SAFE_TEXT]
AddressPart = Annotated[str, StringConstraints(max_length=EMAIL_MAX), SAFE_TEXT]
Reason = Annotated[str, StringConstraints(max_length=500), SAFE_TEXT]


class SuppressionIn(BaseModel):
    email: Text = Field(min_length=1, max_length=EMAIL_MAX)
    reason: Text = Field(default="", max_length=500)


class SuppressionOut(BaseModel):
    email: str
    reason: str
    source: str = Field(description="manual, unsubscribed or bounced")
    created_at: datetime


class SuppressionList(BaseModel):
    items: list[SuppressionOut]
    total: int
    next_cursor: str | None


class SuppressionUploadOut(BaseModel):
    added: int = Field(description="addresses that were not on the list and now are")
    already: int = Field(description="addresses already on the list, or repeated earlier in the file")
    rejected: list[RejectedSuppressionRow] = Field(
        description="every row that is not an address, with its reason (blank rows are skipped)"
    )
