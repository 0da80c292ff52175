"""The `lead_view` read model: every lead of every campaign as the leads table shows it.

It consumes every event of the stream, and applies each to the lead's status with the contracts' status
fold, so the table converges to the same status whatever order events arrive in.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import (
    CampaignCreated,
    EmailSent,
    Event,
    LeadEvent,
    LeadImported,
    LeadState,
    LeadStatus,
    LeadStatusChanged,
    LeadValidated,
    apply,
)
from contracts.events import EVENT_SOURCES
from services.gateway.search import grams, search_text
from services.gateway.tables import campaigns, lead_events, lead_view
from services.runtime.bulk import copy_insert


async def project(session: AsyncSession, event: Event) -> None:
    match event:
        case CampaignCreated():
            await upsert_campaign(session, event.campaign_id, event.workspace_id, event.name)
        case LeadImported():
            searchable = [
                search_text((lead.email, lead.first_name, lead.last_name, lead.company_name))
                for lead in event.leads
            ]
            await copy_insert(
                session,
                lead_view,
                _IMPORTED_COLUMNS,
                (
                    (
                        lead.lead_id,
                        event.workspace_id,
                        event.campaign_id,
                        event.import_id,
                        lead.email,
                        lead.first_name,
                        lead.last_name,
                        lead.company_name,
                        lead.phone,
                        lead.website,
                        lead.city,
                        lead.industry,
                        Jsonb(lead.custom),
                        LeadStatus.PENDING.value,
                        event.occurred_at,
                        event.occurred_at,
                        folded,
                        _pg_array(grams(folded)),
                    )
                    for lead, folded in zip(event.leads, searchable, strict=True)
                ),
                conflict_target=sql.SQL("(id)"),
            )
            await _record_timeline(
                session,
                event,
                [
                    (lead.lead_id, {"import_id": str(event.import_id), "row": lead.row})
                    for lead in event.leads
                ],
            )
        case LeadStatusChanged():
            for lead_id in event.lead_ids:
                await _apply_to_lead(session, event, lead_id, {})
            details = {"status": event.status.value, "changed_by": event.changed_by, "reason": event.reason}
            await _record_timeline(session, event, [(lead_id, details) for lead_id in event.lead_ids])
        case LeadEvent():
            await _apply_to_lead(session, event, event.lead_id, _extra_columns(event))
            await _record_timeline(session, event, [(event.lead_id, _timeline_details(event))])
        case _:
            pass  # import progress/completion and other facts do not change a lead row


_IMPORTED_COLUMNS = (
    "id",
    "workspace_id",
    "campaign_id",
    "import_id",
    "email",
    "first_name",
    "last_name",
    "company_name",
    "phone",
    "website",
    "city",
    "industry",
    "custom",
    "status",
    "status_at",
    "last_activity_at",
    "search",
    "search_grams",
)

_TIMELINE_COLUMNS = ("lead_id", "workspace_id", "event_id", "event_type", "source", "occurred_at", "data")
# Envelope fields every event has: the rest of an event is what its timeline entry shows.
_ENVELOPE = {
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "workspace_id",
    "campaign_id",
    "lead_id",
}


def _pg_array(values: list[int]) -> str:
    """A bigint[] in PostgreSQL's text form, for COPY."""
    return "{" + ",".join(map(str, values)) + "}"


def _timeline_details(event: Event) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude=_ENVELOPE)


async def _record_timeline(
    session: AsyncSession, event: Event, entries: list[tuple[Any, dict[str, Any]]]
) -> None:
    """One timeline row per lead the event touched (a redelivered event adds none)."""
    source = EVENT_SOURCES.get(event.event_type, "unknown")
    await copy_insert(
        session,
        lead_events,
        _TIMELINE_COLUMNS,
        (
            (
                lead_id,
                event.workspace_id,
                event.event_id,
                event.event_type,
                source,
                event.occurred_at,
                Jsonb(data),
            )
            for lead_id, data in entries
        ),
        conflict_target=sql.SQL("ON CONSTRAINT lead_events_lead_event"),
    )


async def upsert_campaign(session: AsyncSession, campaign_id: Any, workspace_id: Any, name: str) -> None:
    await session.execute(
        insert(campaigns)
        .values(id=campaign_id, workspace_id=workspace_id, name=name)
        .on_conflict_do_update(index_elements=["id"], set_={"name": name})
    )


def _extra_columns(event: LeadEvent) -> dict[str, Any]:
    match event:
        case LeadValidated():
            return {"validation": event.verdict.value, "validation_reason": event.reason}
        case EmailSent():
            return {"step": event.step, "total_steps": event.total_steps}
        case _:
            return {}


async def _apply_to_lead(session: AsyncSession, event: Event, lead_id: Any, extra: dict[str, Any]) -> None:
    row = (
        await session.execute(
            select(lead_view.c.status, lead_view.c.status_at, lead_view.c.manual_at, lead_view.c.manual_id)
            .where(lead_view.c.id == lead_id, lead_view.c.workspace_id == event.workspace_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        # An event about a lead this view has not seen yet: fail so JetStream redelivers it after the
        # LeadImported that creates the row (consumers of different subjects are not ordered).
        raise LookupError(f"lead {lead_id} not in lead_view yet")
    before = LeadState(LeadStatus(row.status), row.status_at, row.manual_at, row.manual_id)
    after = apply(before, event)
    await session.execute(
        update(lead_view)
        .where(lead_view.c.id == lead_id)
        .values(
            status=after.status.value,
            status_at=after.status_at,
            manual_at=after.manual_at,
            manual_id=after.manual_id,
            last_activity_at=func.greatest(lead_view.c.last_activity_at, event.occurred_at),
            **extra,
        )
    )
