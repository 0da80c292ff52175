"""The sequencer's decisions: pure, no I/O. The clock is passed in; nothing here reads or writes a table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from contracts import CampaignCreated
from contracts.campaign_settings import CampaignStatus, PauseReason
from contracts.commands import CreateCampaign
from contracts.schedule import Schedule
from services.sequencer.bounce_protection import BounceProtection
from services.sequencer.sequence import StepDraft


@dataclass(frozen=True)
class CampaignSettings:
    """How a campaign sends. No schedule: any time of any day; no daily limit: only the mailboxes' own."""

    schedule: Schedule | None = None
    mailbox_ids: tuple[UUID, ...] = ()
    daily_limit: int | None = None
    stop_on_reply: bool = True
    stop_on_company_reply: bool = False  # with stop_on_reply: a reply stops its company's other leads
    wait_for_validation: bool = True
    send_to_unknown: bool = True
    bounce_protection: BounceProtection = field(default_factory=BounceProtection)


@dataclass(frozen=True)
class Campaign:
    id: UUID
    workspace_id: UUID
    name: str
    status: CampaignStatus
    created_at: datetime
    settings: CampaignSettings = field(default_factory=CampaignSettings)
    steps: tuple[StepDraft, ...] = ()  # as the user wrote them; validate_sequence accepted them
    activated_at: datetime | None = None  # first activation: leads' step 1 is due from then on
    # Why it paused itself (None: a person paused it, or it is not paused), and that in words.
    paused_reason: PauseReason | None = None
    paused_detail: str | None = None
    # The last resume: bounce protection counts only the sends made since (None: every send).
    protected_since: datetime | None = None


@dataclass(frozen=True)
class CampaignIdTaken:
    """The refusal: the id names another workspace's campaign (ids are the caller's, so this is a client's
    mistake or a guess, and the other workspace's campaign is neither shown nor changed)."""

    campaign_id: UUID
    message: str = "That campaign id is taken."


@dataclass(frozen=True)
class Decision:
    """What a command comes to: the campaign the reply shows, the new campaign to store (None when it is
    there already) and the events to emit with it."""

    campaign: Campaign
    to_store: Campaign | None
    events: tuple[CampaignCreated, ...]


def decide(existing: Campaign | None, command: CreateCampaign, now: datetime) -> Decision | CampaignIdTaken:
    """Create the campaign, once: a repeated command (a retry after a lost reply) answers with the campaign
    as it was created, and emits nothing again."""
    match existing:
        case None:
            created = Campaign(
                id=command.campaign_id,
                workspace_id=command.workspace_id,
                name=command.name,
                status=CampaignStatus.DRAFT,
                created_at=now,
            )
            event = CampaignCreated(
                workspace_id=command.workspace_id,
                campaign_id=command.campaign_id,
                name=command.name,
                occurred_at=now,
            )
            return Decision(created, created, (event,))
        case Campaign(workspace_id=owner) if owner != command.workspace_id:
            return CampaignIdTaken(command.campaign_id)
        case _:
            return Decision(existing, None, ())
