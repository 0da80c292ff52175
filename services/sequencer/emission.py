"""The emission pass: due steps become StepDue (or StepNotSendable), one transaction per batch.

For each active campaign whose window (contracts.schedule) is open now and whose daily limit (StepDue
per campaign-local day) is not spent, one transaction: hold the campaign FOR SHARE (a pause waits for
it), lock the day's counter, claim the scheduled leads due by now FOR UPDATE SKIP LOCKED (up to the batch
and the limit left), render their step, write the events to the outbox in one COPY, mark the leads `due`
(or `not_sendable`) and count the StepDue. Claim, events and state commit together: a kill -9 anywhere
loses no step and emits none twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import NamedTuple
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from pydantic_core import to_json

from contracts import Event, LeadCompleted, StepDue, StepNotSendable
from contracts.campaign_settings import CampaignStatus
from contracts.subjects import event_subject
from services.runtime.outbox import PreparedEvent
from services.runtime.service import Service
from services.sequencer.domain import Campaign
from services.sequencer.emission_repository import DueLead, EmissionRepository
from services.sequencer.repository import CampaignRepository
from services.sequencer.sequence import CampaignSequence, StepDraft, validate_sequence
from services.sequencer.templates import LeadValues, NotSendable

BATCH = 2000
STEP_DUE: str = StepDue.model_fields["event_type"].default
ZERO = timedelta(0)


class Outcome(Enum):
    DUE = "due"  # a StepDue: counts against the daily limit
    NOT_SENDABLE = "not_sendable"
    COMPLETED = "completed"


class Emitted(NamedTuple):
    """What one due lead comes to: its event, serialised, and what it means for the lead (a tuple, as
    `DueLead`: one per lead of every batch)."""

    event: PreparedEvent
    outcome: Outcome
    missing: tuple[str, ...] = ()


def lead_values(values: dict[str, object]) -> LeadValues:
    custom = values.get("custom")
    fields = {k: v for k, v in values.items() if k != "custom" and isinstance(v, str)}
    return LeadValues(fields, custom if isinstance(custom, dict) else {})


@dataclass(frozen=True)
class Envelope:
    """What every StepDue of one campaign's batch shares, written once for the batch."""

    subject: str
    occurred_at: str
    workspace_id: str
    campaign_id: str

    @classmethod
    def of(cls, campaign: Campaign, now: datetime) -> Envelope:
        return cls(
            event_subject(campaign.workspace_id, STEP_DUE),
            _utc(now),
            str(campaign.workspace_id),
            str(campaign.id),
        )


def emit_for(
    lead: DueLead,
    campaign: Campaign,
    sequence: CampaignSequence,
    now: datetime,
    event_id: UUID | None = None,
    envelope: Envelope | None = None,
) -> Emitted:
    """The event a due lead's step comes to (pure): StepDue with the rendered step and its thread (a
    follow-up replies to the last Message-ID, references all, keeps the thread's mailbox), StepNotSendable
    naming the missing variables, or LeadCompleted when the sequence was shortened below its next step."""
    total = len(sequence.steps)
    ids = {"workspace_id": campaign.workspace_id, "campaign_id": campaign.id, "lead_id": lead.lead_id}
    if lead.next_step > total:
        completed = LeadCompleted(**ids, total_steps=max(total, 1), occurred_at=now)
        return Emitted(_prepared(completed), Outcome.COMPLETED)
    rendered = sequence.render(lead.next_step, lead_values(lead.values))
    step = {"step": lead.next_step, "total_steps": total, "occurred_at": now}
    if isinstance(rendered, NotSendable):
        flagged = StepNotSendable(**ids, **step, missing=list(rendered.missing))
        return Emitted(_prepared(flagged), Outcome.NOT_SENDABLE, rendered.missing)
    event_id = event_id or uuid4()
    envelope = envelope or Envelope.of(campaign, now)
    thread = lead.message_ids
    # StepDue's wire form, written directly: a batch is thousands of them, and pydantic's validation and
    # serialisation were most of the pass's time (tests hold it equal to the validated event's).
    # Ids and the due time go to pydantic-core's serialiser as they are (UUID, datetime): it writes them
    # as the event would, faster than str() and isoformat() here.
    payload = {
        "event_id": event_id,
        "event_type": STEP_DUE,
        "schema_version": 1,
        "occurred_at": envelope.occurred_at,
        "workspace_id": envelope.workspace_id,
        "campaign_id": envelope.campaign_id,
        "lead_id": lead.lead_id,
        "step": lead.next_step,
        "total_steps": total,
        "due_at": _in_utc(lead.due_at),
        "email": lead.email,
        "subject": rendered.subject,
        "body": rendered.body,
        "in_reply_to": thread[-1] if thread else None,
        "references": list(thread),
        "mailbox_id": lead.thread_mailbox_id if thread else None,
    }
    return Emitted(PreparedEvent(event_id, envelope.subject, to_json(payload)), Outcome.DUE)


def _in_utc(at: datetime) -> datetime:
    """`at` with a zero offset (written with "Z", as pydantic writes the event's UTC time)."""
    return at if at.utcoffset() == ZERO else at.astimezone(UTC)


def _utc(at: datetime) -> str:
    """As pydantic writes an aware datetime in UTC: ISO 8601 with "Z"."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _prepared(event: Event) -> PreparedEvent:
    return PreparedEvent(event.event_id, event.subject, event.to_bytes())


def event_ids(count: int) -> list[UUID]:
    """`count` random (version 4) ids from one read of the system's randomness, not one read each."""
    pool = os.urandom(16 * count)
    return [UUID(bytes=pool[i : i + 16], version=4) for i in range(0, 16 * count, 16)]


def campaign_day(campaign: Campaign, now: datetime) -> date:
    schedule = campaign.settings.schedule
    return now.astimezone(UTC if schedule is None else ZoneInfo(schedule.timezone)).date()


def window_open(campaign: Campaign, now: datetime) -> bool:
    schedule = campaign.settings.schedule
    return schedule is None or schedule.is_open(now)


class Emitter:
    """The pass over every active campaign (`run_once`), run by a WorkLoop."""

    def __init__(self, service: Service, *, batch: int = BATCH) -> None:
        self.service = service
        self.batch = batch
        self._sequences: dict[tuple[StepDraft, ...], CampaignSequence] = {}

    async def run_once(self) -> int:
        """One batch of each active campaign with due leads; how many leads it took."""
        now = datetime.now(UTC)
        async with self.service.sessions() as session:
            candidates = await CampaignRepository.from_session(session).active()
        taken = 0
        for campaign in candidates:
            if window_open(campaign, now) and campaign.steps:
                taken += await self.emit_campaign(campaign.id, now)
        return taken

    async def emit_campaign(self, campaign_id: UUID, now: datetime, most: int | None = None) -> int:
        """One batch (of at most `most` leads) of one campaign, in one transaction; how many it took."""
        async with self.service.unit_of_work() as uow:
            campaign = await CampaignRepository.from_session(uow.session).get(campaign_id, for_share=True)
            if (
                campaign is None
                or campaign.status is not CampaignStatus.ACTIVE
                or not window_open(campaign, now)
            ):
                return 0
            repo = EmissionRepository(uow.session)
            day = campaign_day(campaign, now)
            limit = self.batch if most is None else min(self.batch, most)
            if campaign.settings.daily_limit is not None:
                limit = min(limit, campaign.settings.daily_limit - await repo.emitted_on(campaign.id, day))
            if limit <= 0:
                return 0
            due = await repo.claim(campaign.id, now, limit)
            if not due:
                return 0
            sequence = self._sequence(campaign)
            envelope = Envelope.of(campaign, now)
            outcomes = [
                (lead, emit_for(lead, campaign, sequence, now, event_id, envelope))
                for lead, event_id in zip(due, event_ids(len(due)), strict=True)
            ]
            await repo.write_outbox([e.event for _, e in outcomes])
            sent = [lead.lead_id for lead, e in outcomes if e.outcome is Outcome.DUE]
            await repo.mark(
                not_sendable={lead.lead_id: e.missing for lead, e in outcomes if e.missing},
                completed=[lead.lead_id for lead, e in outcomes if e.outcome is Outcome.COMPLETED],
            )
            if campaign.settings.daily_limit is not None:
                await repo.add_emitted(campaign.id, day, len(sent))
        return len(due)

    def _sequence(self, campaign: Campaign) -> CampaignSequence:
        sequence = self._sequences.get(campaign.steps)
        if sequence is None:
            checked = validate_sequence(campaign.steps)
            assert isinstance(checked, CampaignSequence), "a stored sequence was validated when saved"
            if len(self._sequences) > 1000:
                self._sequences.clear()
            sequence = self._sequences[campaign.steps] = checked
        return sequence
