"""Live updates: what a projected event NOTIFYs to the open leads tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import Text, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import CampaignEvent, Event, ImportCompleted, LeadEvent, LeadImported, LeadStatusChanged
from contracts.events import LeadsRemoved, LeadsScheduled, LeadsValidated

# Every gateway LISTENs on this channel and pushes what it hears to the open leads tables of that campaign
# (services/gateway/leads/live.py). NOTIFY is sent inside the projection's transaction, so it is
# delivered only on commit, to every replica (whichever one projected the event), never for a rollback.
LEAD_CHANGES_CHANNEL = "gateway_lead_changes"
# PostgreSQL refuses a payload over 8000 bytes: 150 quoted UUIDs (~5.9 kB) plus the envelope stay under it.
NOTIFY_MAX_LEAD_IDS = 150


def lead_change_notifications(event: Event) -> list[str]:
    """The NOTIFY payloads (JSON) announcing what `event` did to a campaign's leads; none if nothing.

    An imported batch (up to 1,000 leads) is announced by count and import id, not ids: a table shows new
    leads by reloading anyway. A bulk status change, removal or verdict batch is split into payloads of at
    most 150 ids.
    """
    match event:
        case LeadImported():
            added = {"type": "leads_added", "lead_ids": [], "count": len(event.leads)}
            return [
                json.dumps(
                    {**_envelope(event), **added, "import_id": str(event.import_id)}, separators=(",", ":")
                )
            ]
        case ImportCompleted():
            finished = {"type": "import_finished", "lead_ids": [], "count": event.counts.get("imported", 0)}
            return [
                json.dumps(
                    {**_envelope(event), **finished, "import_id": str(event.import_id)}, separators=(",", ":")
                )
            ]
        case LeadStatusChanged() | LeadsRemoved():  # a removed lead's row is gone when the table reloads it
            return _changed_leads(event, event.lead_ids)
        case LeadsValidated() | LeadsScheduled():
            return _changed_leads(event, [lead.lead_id for lead in event.leads])
        case LeadEvent():
            return _changed_leads(event, [event.lead_id])
        case _:
            return []


def _envelope(event: CampaignEvent) -> dict[str, str]:
    return {
        "workspace_id": str(event.workspace_id),
        "campaign_id": str(event.campaign_id),
        "event_type": event.event_type,
        "at": event.occurred_at.isoformat(),
    }


def _changed_leads(event: CampaignEvent, lead_ids: Sequence[UUID]) -> list[str]:
    """`lead_changed` payloads for these leads of one event, at most `NOTIFY_MAX_LEAD_IDS` ids each."""
    envelope = _envelope(event)
    ids = list(map(str, dict.fromkeys(lead_ids)))
    return [
        json.dumps(
            {**envelope, "type": "lead_changed", "lead_ids": chunk, "count": len(chunk)},
            separators=(",", ":"),
        )
        for chunk in (ids[i : i + NOTIFY_MAX_LEAD_IDS] for i in range(0, len(ids), NOTIFY_MAX_LEAD_IDS))
    ]


def lead_events_notifications(events: Sequence[LeadEvent]) -> list[str]:
    """What a run of single-lead events announces: one `lead_changed` per event, except the verdicts of one
    LeadsValidated (one event id), announced together as that batch is."""
    by_event: dict[tuple[UUID, UUID], list[LeadEvent]] = {}
    for event in events:
        by_event.setdefault((event.event_id, event.campaign_id), []).append(event)
    return [
        payload
        for same in by_event.values()
        for payload in _changed_leads(same[0], [event.lead_id for event in same])
    ]


async def notify_lead_changes(session: AsyncSession, *events: Event) -> None:
    """Announce the events' changes to every gateway's live tables, when this transaction commits (one
    statement however many payloads: a bulk batch of 1,000 leads needs seven)."""
    await notify(session, [payload for event in events for payload in lead_change_notifications(event)])


async def notify(session: AsyncSession, payloads: list[str]) -> None:
    if payloads:
        payload = func.unnest(literal(payloads, ARRAY(Text))).table_valued("payload").render_derived()
        await session.execute(select(func.pg_notify(LEAD_CHANGES_CHANNEL, payload.c.payload)))
