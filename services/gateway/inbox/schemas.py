"""The Unibox's messages as the API answers them: the inbox's own shapes, with the lead and the campaign
the gateway knows added to a message read whole."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from contracts import InboundKind
from contracts.commands import InboxMessage, InboxMessageDetail


class InboxMessageList(BaseModel):
    items: list[InboxMessage]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class LeadRef(BaseModel):
    id: UUID
    email: str | None = Field(description="null while the lead is not listed (or was removed)")


class CampaignRef(BaseModel):
    id: UUID
    name: str | None = Field(description="null when the gateway does not know the campaign")


class InboxMessageOut(InboxMessageDetail):
    lead: LeadRef | None = Field(description="the lead it was linked to; null for a stranger's message")
    campaign: CampaignRef | None


class ReadPatch(BaseModel):
    read: bool


class Reclassification(BaseModel):
    kind: InboundKind = Field(
        description="what the message is, by a person: the lead follows (docs/inbox.md, Unibox API)"
    )
