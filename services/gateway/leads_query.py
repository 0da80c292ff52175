"""Which leads of a campaign a request means: the list's filter, shared by the list, the CSV export and
bulk actions over "everything matching this filter"."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, literal

from contracts import LeadStatus
from services.gateway.search import fold, grams, like_pattern
from services.gateway.tables import lead_view

ValidationValue = Literal["pending", "valid", "invalid", "unknown"]


class LeadFilter(BaseModel):
    """The same keys as the leads list's query parameters."""

    status: list[LeadStatus] | None = Field(default=None, description="Any of these statuses.")
    validation: ValidationValue | None = Field(default=None, description="This validation verdict.")
    q: str | None = Field(
        default=None,
        max_length=200,
        description="Substring of email, first or last name or company; case- and accent-insensitive.",
    )
    import_id: UUID | None = Field(default=None, description="Leads brought by this import.")


def lead_conditions(
    workspace_id: UUID, campaign_id: UUID, lead_filter: LeadFilter
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        lead_view.c.campaign_id == campaign_id,
        lead_view.c.workspace_id == workspace_id,
    ]
    if lead_filter.status:
        conditions.append(lead_view.c.status.in_([s.value for s in lead_filter.status]))
    if lead_filter.validation:
        conditions.append(lead_view.c.validation == lead_filter.validation)
    if lead_filter.import_id:
        conditions.append(lead_view.c.import_id == lead_filter.import_id)
    if lead_filter.q and (folded := fold(lead_filter.q)):
        query_grams = grams(folded)
        if query_grams:  # the GIN index narrows it down; LIKE is the exact recheck
            conditions.append(
                lead_view.c.search_grams.contains(literal(query_grams, lead_view.c.search_grams.type))
            )
        conditions.append(lead_view.c.search.like(like_pattern(folded), escape="\\"))
    return conditions
