"""What a bulk action's request says, and what its job looks like to the API."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts import LeadStatus
from contracts.text import MaybeText
from services.gateway.domain import JobState
from services.gateway.leads.schemas import LeadFilter
from services.gateway.search import search_words

# Ids sent in the body; a larger selection is a `filter` (a 4 MB JSON body of ids helps nobody).
MAX_IDS = 10_000

BulkAction = Literal["set_status", "remove"]


class BulkFilter(LeadFilter):
    """The list's filter; an unknown key is refused, as a typo must never widen a bulk action to every lead.

    So is a `q` with nothing to search for once folded (blank, or only accents and marks the search drops):
    the list shows every lead for it, which a bulk action must never do in its name."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("q")
    @classmethod
    def _q_searches_something(cls, value: str | None) -> str | None:
        if value is not None and not search_words(value):
            raise ValueError(
                "has nothing to search for (only spaces, accents or marks the search ignores); a bulk "
                "action would then apply to every lead. Leave `q` out to select without a text search."
            )
        return value


class _Selection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_IDS,
        description="These leads. Ids that are not leads of the campaign are ignored and reported in "
        "`ignored_ids`. Use `filter` for more than 10,000 leads.",
    )
    filter: BulkFilter | None = Field(
        default=None,
        description="Every lead the list shows with these query parameters (`{}`: the whole campaign), "
        "as of the request: leads added later are not included.",
    )

    @model_validator(mode="after")
    def _exactly_one_selection(self) -> Self:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("send exactly one of `ids` or `filter`")
        return self


class SetStatusAction(_Selection):
    action: Literal["set_status"]
    status: LeadStatus = Field(description="The status to set: a manual change, the latest one wins.")
    reason: MaybeText = Field(default=None, max_length=500, description="Shown in each lead's timeline.")


class RemoveAction(_Selection):
    action: Literal["remove"]


BulkActionIn = Annotated[SetStatusAction | RemoveAction, Field(discriminator="action")]


class JobOut(BaseModel):
    id: UUID
    state: JobState = Field(
        description="`running` until every batch is sent, then `completed` (or `failed`)."
    )
    percent: float = Field(
        description="done / total * 100, rounded down to one decimal; 100 for a job with nothing to do."
    )
    done: int = Field(description="Leads handled so far.")
    total: int = Field(description="Leads the selection matched when the job was created.")
    action: BulkAction
    error: str | None = Field(description="Why the job failed.")
    campaign_id: UUID | None
    ignored_ids: list[UUID] = Field(
        default_factory=list, description="Requested ids that are not leads of this campaign (left alone)."
    )


def percent(done: int, total: int) -> float:
    return math.floor(done * 1000 / total) / 10 if total else 100.0


def job_out(row: Any) -> JobOut:
    params: dict[str, Any] = row.params
    return JobOut(
        id=row.id,
        state=row.state,
        percent=percent(row.done, row.total),
        done=row.done,
        total=row.total,
        action=params["action"],
        error=row.error,
        campaign_id=row.campaign_id,
        ignored_ids=params.get("ignored_ids", []),
    )
