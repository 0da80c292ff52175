"""Commands to the sequencer about campaigns."""

from datetime import datetime
from uuid import UUID

from pydantic import Field

from contracts.commands.base import Command
from contracts.replies import Reply
from contracts.text import Text


class CreateCampaign(Command):
    campaign_id: UUID
    name: Text = Field(min_length=1, max_length=200)


class CampaignCreatedReply(Reply):
    campaign_id: UUID
    name: str
    created_at: datetime
