"""What a request about a campaign's leads says: the list's filter (also the export's and a bulk action's),
and the leads list's pages and detail as the API answers them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, Field, StringConstraints, computed_field, model_validator

from contracts import LeadStatus
from contracts.text import SAFE_TEXT, MaybeText
from services.gateway.projection.sending import sequence_goes_on, sequence_label

SEARCH_MAX = 200
# A query parameter's bound goes inside, before the check (see contracts/text.py).
SearchText = Annotated[str, StringConstraints(max_length=SEARCH_MAX), SAFE_TEXT]

ValidationValue = Literal["pending", "valid", "invalid", "unknown"]


class LeadFilter(BaseModel):
    """The same keys as the leads list's query parameters."""

    status: list[LeadStatus] | None = Field(default=None, description="Any of these statuses.")
    validation: ValidationValue | None = Field(default=None, description="This validation verdict.")
    q: MaybeText = Field(
        default=None,
        max_length=SEARCH_MAX,
        description="Words, each a substring of the email, first or last name, company or city (any "
        "field, any order); case- and accent-insensitive.",
    )
    import_id: UUID | None = Field(default=None, description="Leads brought by this import.")


def lead_filter_params(
    status_: Annotated[
        list[LeadStatus] | None, Query(alias="status", description="Any of these statuses (repeatable).")
    ] = None,
    validation: Annotated[
        ValidationValue | None, Query(description="Only leads with this validation verdict.")
    ] = None,
    q: Annotated[
        SearchText | None,
        Query(
            description="Words that must each occur in the email, a name, the company or the city "
            "(`katerina brno` finds Kateřina in Brno); case- and accent-insensitive. A `q` with nothing "
            "to search for (blanks, lone accents) is no filter here; a bulk action refuses it.",
        ),
    ] = None,
    import_id: Annotated[UUID | None, Query(description="Only leads brought by this import.")] = None,
) -> LeadFilter:
    """The leads list's filter parameters (a FastAPI dependency): the list, the export and anything else
    that means "these leads" read them the same way."""
    return LeadFilter(status=status_, validation=validation, q=q, import_id=import_id)


class LeadOut(BaseModel):
    id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    company_name: str | None
    status: LeadStatus
    step: int = Field(description="The highest step sent to the lead (0: none yet).")
    total_steps: int = Field(description="The sequence's steps when that step was sent (0: none sent yet).")
    next_step: int | None = Field(
        default=None,
        description="The step the sequencer will send next (null: none, or the lead's status ended the "
        "sequence).",
    )
    next_step_at: datetime | None = Field(
        default=None,
        description="When the next step is due (the schedule's window may move the send later); null when "
        "none is scheduled, the lead waits for validation, or its status ended the sequence.",
    )
    validation: str = Field(
        description="`pending` until the validator decides: `valid`, `invalid`, `unknown`"
    )
    validation_reason: str | None = Field(
        description="The validator's reason code (`accepted`, `mailbox_not_found`, `catch_all`, …)"
    )
    last_activity_at: datetime | None
    import_id: UUID | None

    @model_validator(mode="after")
    def _no_next_send_once_stopped(self) -> Self:
        if not sequence_goes_on(self.status):
            self.next_step = self.next_step_at = None
        return self

    @computed_field(description='The leads table\'s Sequence: "Step 2 of 3" once a step was sent, else null.')  # type: ignore[prop-decorator]
    @property
    def sequence(self) -> str | None:
        return sequence_label(self.step, self.total_steps)


class LeadPage(BaseModel):
    items: list[LeadOut]
    total: int = Field(
        description="Leads matching the filter (all pages). Exact unless `total_is_estimate` is true."
    )
    total_is_estimate: bool = Field(
        default=False,
        description="True only for a search (`q`) matching more than 5,000 leads: `total` is then an "
        "estimate (never below 5,001), so counting does not slow every page of a broad search.",
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same `sort`) for the next page; null on the last page."
    )
    arriving: int = Field(
        default=0,
        description="Whatever the filter, leads of the campaign's finished imports not listed yet: the importer has imported "
        "them and they are on their way to the list (seconds, more behind a large import). Never negative.",
    )


class TimelineEntry(BaseModel):
    at: datetime = Field(description="When it happened (the event's time).")
    type: str = Field(
        description="The event type: `lead_imported`, `lead_validated`, `lead_status_changed`, …"
    )
    source: str = Field(
        description="The service that emitted it: importer, validator, gateway, mailer, inbox, …"
    )
    summary: dict[str, Any] = Field(
        description="The event's own fields (verdict and reason, new status and who set it, …)."
    )


class LeadDetail(LeadOut):
    campaign_id: UUID
    phone: str | None
    website: str | None
    city: str | None
    industry: str | None
    custom: dict[str, str]
    created_at: datetime
    timeline: list[TimelineEntry] = Field(description="Every event that touched the lead, oldest first.")
