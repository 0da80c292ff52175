"""Campaigns and the workspace as the API answers them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.text import Text


class WorkspaceOut(BaseModel):
    id: UUID
    name: str


class CampaignIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)


class CampaignOut(BaseModel):
    id: UUID
    name: str
    created_at: datetime
    leads: int = 0
    arriving: int = Field(
        default=0,
        description="Leads of the campaign's finished imports not listed yet: the importer has imported "
        "them and they are on their way to the list (seconds, more behind a large import). Never negative.",
    )
