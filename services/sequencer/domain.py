"""The sequencer's states: pure, no I/O."""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    """A campaign's status (`sequencer.campaigns.status`). Every campaign is a draft until sending is built."""

    DRAFT = "draft"
