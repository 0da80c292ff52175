"""What the inbox makes of an inbound message: the kinds it decides between, and its ephemeral announcement
that one was stored (the Unibox's live list). Kept apart from events.py, which re-exports both."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from contracts._envelope import Event, UtcDatetime
from contracts.subjects import unibox_stored_subject

# What the inbox decides an inbound message is (services/inbox/classify.py).
InboundKind = Literal["hard_bounce", "soft_bounce", "delayed", "auto_reply", "reply", "challenge"]


class InboxMessageStored(Event):
    """A message read from one of the workspace's mailboxes was stored: an open Unibox shows it at once.

    Ephemeral (core NATS, never in the stream), and published only once the batch that stored it has
    committed, so whoever hears it can read the message. One that is lost (no gateway listening, a dropped
    connection) costs nothing: the list shows the message the next time it is read.
    """

    ephemeral: ClassVar[bool] = True
    announced_on: ClassVar[str] = unibox_stored_subject("{workspace_id}")

    event_type: Literal["inbox_message_stored"] = "inbox_message_stored"
    inbox_message_id: UUID
    mailbox_id: UUID
    kind: InboundKind
    lead_id: UUID | None = Field(default=None, description="The lead it was linked to; null for a stranger.")
    campaign_id: UUID | None = Field(default=None, description="The campaign of the send it was linked to.")
    received_at: UtcDatetime

    @property
    def subject(self) -> str:
        # One subject per workspace, outside the stream: a gateway hears only the workspace it streams.
        return unibox_stored_subject(self.workspace_id)
