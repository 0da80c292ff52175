"""The consumer of every event: applies each to `lead_view`, one by one or a delivery batch at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import CampaignCreated, CampaignUpdated, Event, LeadEvent, LeadImported, LeadStatusChanged
from contracts.events import LeadsRemoved, LeadsScheduled, LeadsValidated, StepDue
from services.gateway.projection.campaign_days import apply_schedule
from services.gateway.projection.imports import claim_import, list_imported
from services.gateway.projection.lead_events import apply_lead_events, apply_to_lead
from services.gateway.projection.manual_changes import apply_manual_batch, status_change_details
from services.gateway.projection.notifications import notify_lead_changes
from services.gateway.projection.parked import take_listed
from services.gateway.projection.removals import remove_leads
from services.gateway.projection.timeline import record_timeline, timeline_details
from services.gateway.tables import campaigns

# The projection's durable consumer. A writer that applies an event to lead_view itself, in the transaction
# that puts it in the outbox (a bulk job's status batch), records it as processed under this name there too,
# so the projection skips it when it arrives.
PROJECTION_DURABLE = "gateway-lead-view"


async def project(session: AsyncSession, event: Event) -> None:
    match event:
        case CampaignCreated():
            await upsert_campaign(session, event.campaign_id, event.workspace_id, event.name)
        case CampaignUpdated():
            await update_campaign_status(session, event)
        case LeadImported():
            if await claim_import(session, event):
                await list_imported(session, event)
            return  # announced by whichever consumer listed it
        case LeadStatusChanged():
            changed = await apply_manual_batch(session, event)
            details = status_change_details(event.status, event.changed_by, event.reason, event.job_id)
            await record_timeline(session, event, [(lead_id, details) for lead_id in changed])
        case LeadsRemoved():
            await remove_leads(session, event)
        case LeadsScheduled():
            await apply_schedule(session, event)
        case StepDue():
            return  # the mailer's work order: its EmailSent (or failure) is what the lead's row shows
        case LeadsValidated():
            await apply_lead_events(session, event.one_by_one())  # it announces the changes itself
            return
        case LeadEvent():
            if await apply_to_lead(session, event):
                await record_timeline(session, event, [(event.lead_id, timeline_details(event))])
        case _:
            pass  # import progress/completion and other facts do not change a lead row
    await notify_lead_changes(session, event)


async def project_batch(session: AsyncSession, events: Sequence[Event]) -> None:
    """Several events in delivery order, in one transaction (the consumer's batch).

    Runs of lead events (the validator's LeadsValidated batches, a mailer's EmailSent, …) are applied
    together: one locking read, one UPDATE and one timeline COPY for the run, where one at a time cost a
    transaction each and the projection fell behind the validator. A LeadsValidated counts as its verdicts
    one by one. Everything else goes through `project`.
    """
    run: list[LeadEvent] = []
    for event in events:
        if isinstance(event, StepDue):
            continue
        if isinstance(event, LeadEvent):
            run.append(event)
            continue
        if isinstance(event, LeadsValidated):
            run.extend(event.one_by_one())
            continue
        if run:
            await apply_lead_events(session, run)
            run = []
        await project(session, event)
    if run:
        await apply_lead_events(session, run)


async def apply_parked(session: AsyncSession) -> int:
    """Apply the parked events whose leads are listed now (see `parked`); how many."""
    events = await take_listed(session)
    if events:
        await project_batch(session, events)
    return len(events)


async def update_campaign_status(session: AsyncSession, event: CampaignUpdated) -> None:
    """The campaign's status as of the event, unless a later one was applied already (the sequencer
    emits CampaignCreated before any CampaignUpdated of a campaign, so its row is there)."""
    await session.execute(
        update(campaigns)
        .where(
            campaigns.c.id == event.campaign_id,
            or_(campaigns.c.status_at.is_(None), campaigns.c.status_at <= event.occurred_at),
        )
        .values(status=event.status.value, status_at=event.occurred_at)
    )


async def upsert_campaign(session: AsyncSession, campaign_id: Any, workspace_id: Any, name: str) -> None:
    await session.execute(
        insert(campaigns)
        .values(id=campaign_id, workspace_id=workspace_id, name=name)
        .on_conflict_do_update(index_elements=["id"], set_={"name": name})
    )
