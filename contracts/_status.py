"""LeadStatus lives here so that both ``events`` and ``lead_status`` can import it without a cycle."""

from __future__ import annotations

from enum import StrEnum


class LeadStatus(StrEnum):
    PENDING = "pending"
    CONTACTED = "contacted"
    REPLIED = "replied"
    BOUNCED = "bounced"
    INVALID = "invalid"
    UNSUBSCRIBED = "unsubscribed"
    COMPLETED = "completed"
