"""The states that travel on the bus, here so that ``events``, ``commands`` and ``lead_status`` import them
without a cycle."""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal


class LeadStatus(StrEnum):
    PENDING = "pending"
    CONTACTED = "contacted"
    REPLIED = "replied"
    BOUNCED = "bounced"
    INVALID = "invalid"
    UNSUBSCRIBED = "unsubscribed"
    COMPLETED = "completed"


class ImportState(StrEnum):
    """An import's state (the importer's `imports.state`): running until it ends in one of the others."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The states an import ends in, the ones `ImportCompleted` carries.
ImportEndState = Literal[ImportState.COMPLETED, ImportState.FAILED, ImportState.CANCELLED]
IMPORT_END_STATES: Final = frozenset({ImportState.COMPLETED, ImportState.FAILED, ImportState.CANCELLED})
