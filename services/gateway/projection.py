"""The `lead_view` read model: every lead of every campaign as the leads table shows it.

It consumes every event of the stream, and applies each to the lead's status with the contracts' status
fold, so the table converges to the same status whatever order events arrive in. A second consumer takes
only the imports' events, so a backlog of verdicts never delays listing a new import (`project_imports`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Text,
    Uuid,
    any_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import (
    CampaignCreated,
    CampaignEvent,
    EmailSent,
    Event,
    ImportCompleted,
    LeadEvent,
    LeadImported,
    LeadState,
    LeadStatus,
    LeadStatusChanged,
    LeadValidated,
    apply,
)
from contracts.events import EVENT_SOURCES, LeadsRemoved, LeadsValidated
from services.gateway.search import grams, lead_search_text
from services.gateway.tables import (
    campaigns,
    import_arrivals,
    import_listed,
    lead_counts,
    lead_events,
    lead_search,
    lead_view,
    processed_events,
)
from services.runtime.bulk import copy_insert, copy_text
from services.runtime.collation import person_name, sort_key


async def project(session: AsyncSession, event: Event) -> None:
    match event:
        case CampaignCreated():
            await upsert_campaign(session, event.campaign_id, event.workspace_id, event.name)
        case LeadImported():
            if await _claim_import(session, event):
                await list_imported(session, event)
            return  # announced by whichever consumer listed it
        case LeadStatusChanged():
            changed = await _apply_manual_batch(session, event)
            details = status_change_details(event.status, event.changed_by, event.reason, event.job_id)
            await _record_timeline(session, event, [(lead_id, details) for lead_id in changed])
        case LeadsRemoved():
            await _remove_leads(session, event)
        case LeadsValidated():
            await _apply_lead_events(session, event.one_by_one())  # it announces the changes itself
            return
        case LeadEvent():
            if await _apply_to_lead(session, event):
                await _record_timeline(session, event, [(event.lead_id, _timeline_details(event))])
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
        if isinstance(event, LeadEvent):
            run.append(event)
            continue
        if isinstance(event, LeadsValidated):
            run.extend(event.one_by_one())
            continue
        if run:
            await _apply_lead_events(session, run)
            run = []
        await project(session, event)
    if run:
        await _apply_lead_events(session, run)


async def project_imports(session: AsyncSession, event: Event) -> None:
    """The imports consumer (`IMPORTS_DURABLE`): lists each import's leads, and learns how many an import
    imported when it finishes, apart from the consumer of every event, so a backlog of verdicts never
    delays a new import's leads (or the count of those still arriving)."""
    match event:
        case LeadImported():
            await list_imported(session, event)
        case ImportCompleted():
            await _record_import_completed(session, event)
        case _:
            pass


# The projection's durable consumer. A writer that applies an event to lead_view itself, in the transaction
# that puts it in the outbox (a bulk job's status batch), records it as processed under this name there too,
# so the projection skips it when it arrives.
PROJECTION_DURABLE = "gateway-lead-view"
# The imports' own durable consumer (LeadImported and ImportCompleted). It starts at the stream's end when
# created: the consumer of every event still gets every LeadImported, and lists the ones before it.
IMPORTS_DURABLE = "gateway-lead-imports"
IMPORT_EVENTS = ("lead_imported", "import_completed")


async def _claim_import(session: AsyncSession, event: LeadImported) -> bool:
    """Whether the consumer of every event is to list this LeadImported: only if the imports consumer has
    not. It records the event as processed for that consumer, which then skips it; if that consumer is
    listing it right now, this waits for its commit (and then finds the record). So each import chunk is
    listed exactly once, whichever consumer reaches it first, and the events after it in the stream (its
    leads' verdicts) find its leads."""
    claimed = await session.execute(
        insert(processed_events)
        .values(consumer=IMPORTS_DURABLE, event_id=event.event_id)
        .on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
    )
    return claimed.first() is not None


async def list_imported(session: AsyncSession, event: LeadImported) -> None:
    """An import chunk's leads into the list (Pending, with their search keys and timeline entries), and
    announced to the open tables."""
    searchable = [
        lead_search_text(lead.email, lead.first_name, lead.last_name, lead.company_name, lead.city)
        for lead in event.leads
    ]
    inserted = await copy_insert(
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
            )
            for lead, folded in zip(event.leads, searchable, strict=True)
        ),
        conflict_target=sql.SQL("(id)"),
        returning=("id", "seq"),
    )
    # The search grams and sort keys of the leads just inserted (a redelivered batch inserts none).
    imported = {lead.lead_id: (lead, folded) for lead, folded in zip(event.leads, searchable, strict=True)}
    keys = []
    for lead_id, seq in inserted:
        lead, folded = imported[lead_id]
        keys.append(
            (
                seq,
                _pg_array(grams(folded)),
                event.campaign_id,
                lead.company_name,
                lead.email,
                sort_key(lead.company_name),
                sort_key(person_name(lead.first_name, lead.last_name)),
            )
        )
    await copy_insert(
        session,
        lead_search,
        ("seq", "grams", "campaign_id", "company_name", "email", "company_key", "name_key"),
        keys,
        conflict_target=sql.SQL("(seq)"),
    )
    await _record_timeline(
        session,
        event,
        [(lead.lead_id, {"import_id": str(event.import_id), "row": lead.row}) for lead in event.leads],
    )
    # How many of the import's leads are listed now: with ImportCompleted's count, the leads still arriving.
    await session.execute(
        insert(import_listed).values(
            import_id=event.import_id, campaign_id=event.campaign_id, n=len(event.leads)
        )
    )
    await notify_lead_changes(session, event)


async def _record_import_completed(session: AsyncSession, event: ImportCompleted) -> None:
    await session.execute(
        insert(import_arrivals)
        .values(
            import_id=event.import_id,
            workspace_id=event.workspace_id,
            campaign_id=event.campaign_id,
            imported=event.counts.get("imported", 0),
            completed_at=event.occurred_at,
        )
        .on_conflict_do_nothing(index_elements=["import_id"])
    )
    # An open table learns that the import finished: the leads it still waits for are now "on the way".
    await notify_lead_changes(session, event)


async def arriving_leads(
    session: AsyncSession, workspace_id: UUID, campaign_ids: Sequence[UUID]
) -> dict[UUID, int]:
    """Per campaign, the leads of its finished imports not listed yet: ImportCompleted's count less the
    leads listed. Counting the leads listed, not the leads still there, means removing some never makes
    the others look on their way; the leads still there (`lead_counts`) stand in where that is the larger
    count (an import's chunks listed before gateway_0009 kept no tally). Never negative."""
    campaigns_given = any_(literal(list(campaign_ids), ARRAY(Uuid)))
    listed = (
        select(import_listed.c.import_id, func.sum(import_listed.c.n).label("n"))
        .where(import_listed.c.campaign_id == campaigns_given)
        .group_by(import_listed.c.import_id)
        .subquery("listed")
    )
    present = (
        select(lead_counts.c.import_id, func.sum(lead_counts.c.n).label("n"))
        .where(lead_counts.c.workspace_id == workspace_id, lead_counts.c.campaign_id == campaigns_given)
        .group_by(lead_counts.c.import_id)
        .subquery("present")
    )
    known = func.greatest(func.coalesce(listed.c.n, 0), func.coalesce(present.c.n, 0))
    missing = func.greatest(import_arrivals.c.imported - known, 0)
    rows = await session.execute(
        select(import_arrivals.c.campaign_id, cast(func.sum(missing), BigInteger).label("arriving"))
        .select_from(
            import_arrivals.outerjoin(listed, listed.c.import_id == import_arrivals.c.import_id).outerjoin(
                present, present.c.import_id == import_arrivals.c.import_id
            )
        )
        .where(
            import_arrivals.c.workspace_id == workspace_id, import_arrivals.c.campaign_id == campaigns_given
        )
        .group_by(import_arrivals.c.campaign_id)
    )
    return {row.campaign_id: int(row.arriving) for row in rows}


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
    """One timeline row per lead the event touched (a redelivered event adds none).

    Sent as COPY text built here: a bulk status change shares one `data` dict across its thousand leads,
    so it is serialised once, not once per row."""
    source = EVENT_SOURCES.get(event.event_type, "unknown")
    serialised: dict[int, str] = {}

    def as_json(data: dict[str, Any]) -> str:
        known = serialised.get(id(data))
        if known is None:
            known = serialised[id(data)] = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return known

    envelope = (str(event.workspace_id), str(event.event_id), event.event_type, source, event.occurred_at)
    await _write_timeline(
        session, copy_text((lead_id, *envelope, as_json(data)) for lead_id, data in entries)
    )


async def _write_timeline(session: AsyncSession, rows: bytes) -> None:
    """Timeline rows (`_TIMELINE_COLUMNS`, as COPY text); an entry already there is left alone."""
    await copy_insert(
        session,
        lead_events,
        _TIMELINE_COLUMNS,
        rows,
        conflict_target=sql.SQL("ON CONSTRAINT lead_events_lead_time_event"),
    )


async def upsert_campaign(session: AsyncSession, campaign_id: Any, workspace_id: Any, name: str) -> None:
    await session.execute(
        insert(campaigns)
        .values(id=campaign_id, workspace_id=workspace_id, name=name)
        .on_conflict_do_update(index_elements=["id"], set_={"name": name})
    )


def _extra_columns(event: LeadEvent, before: LeadState) -> dict[str, Any]:
    """The columns besides the status that `event` sets on a lead whose state was `before`."""
    match event:
        case LeadValidated() if before.verdict_run is None or event.run >= before.verdict_run:
            # An older run's verdict, arriving late, is not what the lead's validation is now.
            return {"validation": event.verdict.value, "validation_reason": event.reason}
        case EmailSent():
            return {"step": event.step, "total_steps": event.total_steps}
        case _:
            return {}


# The lead_view columns holding a lead's `LeadState` (the status fold's state), in its fields' order.
STATE_COLUMNS = (
    lead_view.c.status,
    lead_view.c.status_at,
    lead_view.c.manual_at,
    lead_view.c.manual_id,
    lead_view.c.base_status,
    lead_view.c.base_at,
    lead_view.c.verdict_run,
    lead_view.c.verdict_invalid_at,
)


def _state_of(row: Any) -> LeadState:
    return LeadState(
        status=LeadStatus(row.status),
        status_at=row.status_at,
        manual_at=row.manual_at,
        manual_id=row.manual_id,
        base_status=None if row.base_status is None else LeadStatus(row.base_status),
        base_at=row.base_at,
        verdict_run=row.verdict_run,
        verdict_invalid_at=row.verdict_invalid_at,
    )


def _state_values(state: LeadState) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "status_at": state.status_at,
        "manual_at": state.manual_at,
        "manual_id": state.manual_id,
        "base_status": None if state.base_status is None else state.base_status.value,
        "base_at": state.base_at,
        "verdict_run": state.verdict_run,
        "verdict_invalid_at": state.verdict_invalid_at,
    }


async def _apply_to_lead(session: AsyncSession, event: LeadEvent) -> bool:
    """Fold `event` into the lead's row; False when the lead was removed from its campaign (nothing to do)."""
    lead_id = event.lead_id
    row = (
        await session.execute(
            select(*STATE_COLUMNS)
            .where(lead_view.c.id == lead_id, lead_view.c.workspace_id == event.workspace_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        if await _removed(session, event.workspace_id, [lead_id]):
            return False
        # An event about a lead this view has not seen yet: fail so JetStream redelivers it after the
        # LeadImported that creates the row (consumers of different subjects are not ordered).
        raise LookupError(f"lead {lead_id} not in lead_view yet")
    before = _state_of(row)
    after = apply(before, event)
    await session.execute(
        update(lead_view)
        .where(lead_view.c.id == lead_id)
        .values(
            **_state_values(after),
            last_activity_at=func.greatest(lead_view.c.last_activity_at, event.occurred_at),
            **_extra_columns(event, before),
        )
    )
    return True


_APPLY_LEAD_EVENTS = text(
    f"""
    UPDATE {lead_view.fullname} AS v SET
        status = c.status,
        status_at = c.status_at,
        manual_at = c.manual_at,
        manual_id = c.manual_id,
        base_status = c.base_status,
        base_at = c.base_at,
        verdict_run = c.verdict_run,
        verdict_invalid_at = c.verdict_invalid_at,
        last_activity_at = greatest(v.last_activity_at, c.last_activity_at),
        validation = coalesce(c.validation, v.validation),
        validation_reason = CASE WHEN c.validation IS NULL THEN v.validation_reason
                                 ELSE c.validation_reason END,
        step = coalesce(c.step, v.step),
        total_steps = coalesce(c.total_steps, v.total_steps)
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:status AS text[]), CAST(:status_at AS timestamptz[]),
        CAST(:manual_at AS timestamptz[]), CAST(:manual_id AS uuid[]), CAST(:base_status AS text[]),
        CAST(:base_at AS timestamptz[]), CAST(:verdict_run AS integer[]),
        CAST(:verdict_invalid_at AS timestamptz[]), CAST(:last_activity_at AS timestamptz[]),
        CAST(:validation AS text[]), CAST(:validation_reason AS text[]), CAST(:step AS integer[]),
        CAST(:total_steps AS integer[])
    ) AS c(id, status, status_at, manual_at, manual_id, base_status, base_at, verdict_run, verdict_invalid_at,
           last_activity_at, validation, validation_reason, step, total_steps)
    WHERE v.id = c.id
    """
)


async def _apply_lead_events(session: AsyncSession, events: Sequence[LeadEvent]) -> None:
    """`_apply_to_lead` for many single-lead events at once, folded in order per lead (a lead may have
    several in the run), with the same outcome as applying them one by one. Each event is one timeline
    entry of its lead: a LeadsValidated's verdicts (one event id) are each their lead's `lead_validated`."""
    ids = list(dict.fromkeys(event.lead_id for event in events))
    rows = (
        await session.execute(
            select(lead_view.c.id, lead_view.c.workspace_id, *STATE_COLUMNS)
            .where(lead_view.c.id == any_(literal(ids, ARRAY(Uuid))))
            .order_by(lead_view.c.id)  # one lock order for every projection replica: no deadlocks
            .with_for_update()
        )
    ).all()
    states = {row.id: _state_of(row) for row in rows}
    workspace_of = {row.id: row.workspace_id for row in rows}
    absent = {e.lead_id for e in events if workspace_of.get(e.lead_id) != e.workspace_id}
    for workspace_id in {e.workspace_id for e in events if e.lead_id in absent}:
        asked = {e.lead_id for e in events if e.lead_id in absent and e.workspace_id == workspace_id}
        if unknown := asked.difference(await _removed(session, workspace_id, asked)):
            # As in `_apply_to_lead`: redelivered (one by one) once the lead's LeadImported is in.
            raise LookupError(f"{len(unknown)} leads not in lead_view yet, e.g. {next(iter(unknown))}")
    extras: dict[UUID, dict[str, Any]] = {}
    activity: dict[UUID, datetime] = {}
    timeline: list[tuple[Any, ...]] = []
    for event in events:
        if event.lead_id in absent:  # removed from its campaign: nothing to do
            continue
        before = states[event.lead_id]
        states[event.lead_id] = apply(before, event)
        extras.setdefault(event.lead_id, {}).update(_extra_columns(event, before))
        activity[event.lead_id] = max(activity.get(event.lead_id, event.occurred_at), event.occurred_at)
        timeline.append(
            (
                event.lead_id,
                event.workspace_id,
                event.event_id,
                event.event_type,
                EVENT_SOURCES.get(event.event_type, "unknown"),
                event.occurred_at,
                json.dumps(_timeline_details(event), ensure_ascii=False, separators=(",", ":")),
            )
        )
    changed = list(extras)
    if not changed:
        return
    new_states = [_state_values(states[i]) for i in changed]
    await session.execute(
        _APPLY_LEAD_EVENTS,
        {
            "ids": changed,
            **{c.name: [values[c.name] for values in new_states] for c in STATE_COLUMNS},
            "last_activity_at": [activity[i] for i in changed],
            "validation": [extras[i].get("validation") for i in changed],
            "validation_reason": [extras[i].get("validation_reason") for i in changed],
            "step": [extras[i].get("step") for i in changed],
            "total_steps": [extras[i].get("total_steps") for i in changed],
        },
    )
    await _write_timeline(session, copy_text(timeline))
    await _notify(session, _lead_events_notifications([e for e in events if e.lead_id not in absent]))


# --- live updates ----------------------------------------------------------------------------------------

# Every gateway LISTENs on this channel and pushes what it hears to the open leads tables of that campaign
# (services/gateway/leads_stream_api.py). NOTIFY is sent inside the projection's transaction, so it is
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
        case LeadsValidated():
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


def _lead_events_notifications(events: Sequence[LeadEvent]) -> list[str]:
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
    await _notify(session, [payload for event in events for payload in lead_change_notifications(event)])


async def _notify(session: AsyncSession, payloads: list[str]) -> None:
    if payloads:
        payload = func.unnest(literal(payloads, ARRAY(Text))).table_valued("payload").render_derived()
        await session.execute(select(func.pg_notify(LEAD_CHANGES_CHANNEL, payload.c.payload)))


_NIL_UUID = UUID(int=0)


def manual_change_values(
    event_id: UUID | ColumnElement[UUID], occurred_at: datetime, status: LeadStatus
) -> dict[str, Any]:
    """The lead_view columns a manual status change sets, as SQL over the row's current values: the status
    fold of a manual change (last writer wins, by `(occurred_at, event_id)`). `event_id` is the event's
    id, or an SQL expression giving each row its event's id (several events in one statement).

    A manual change does not depend on the lead's current status (terminal or not), only on the previous
    manual change, so `contracts.lead_status._apply_manual` is exactly this CASE (it clears the other
    events' status and an invalid verdict, and keeps the latest validation run); `last_activity_at` moves
    forward either way, as it does for every event.
    """
    at = literal(occurred_at, DateTime(timezone=True))
    event = literal(event_id, Uuid) if isinstance(event_id, UUID) else event_id
    newer = or_(
        lead_view.c.manual_at.is_(None),
        tuple_(lead_view.c.manual_at, func.coalesce(lead_view.c.manual_id, literal(_NIL_UUID, Uuid)))
        < tuple_(at, event),
    )

    def if_newer(value: ColumnElement[Any], column: ColumnElement[Any]) -> ColumnElement[Any]:
        return case((newer, value), else_=column)

    return {
        "status": if_newer(literal(status.value), lead_view.c.status),
        "status_at": if_newer(at, lead_view.c.status_at),
        "manual_at": if_newer(at, lead_view.c.manual_at),
        "manual_id": if_newer(event, lead_view.c.manual_id),
        # Every status fact known so far is replaced, an invalid verdict too; the latest run stays known.
        "base_status": if_newer(null(), lead_view.c.base_status),
        "base_at": if_newer(null(), lead_view.c.base_at),
        "verdict_invalid_at": if_newer(null(), lead_view.c.verdict_invalid_at),
        "last_activity_at": func.greatest(lead_view.c.last_activity_at, at),
    }


def status_change_details(
    status: LeadStatus, changed_by: str, reason: str | None, job_id: UUID | None
) -> dict[str, Any]:
    """What a manual status change's timeline entry shows."""
    details: dict[str, Any] = {"status": status.value, "changed_by": changed_by, "reason": reason}
    if job_id is not None:
        details["job_id"] = str(job_id)
    return details


async def _apply_manual_batch(session: AsyncSession, event: LeadStatusChanged) -> list[UUID]:
    """A manual status change applied to the whole batch in ONE statement; returns the leads it touched.

    A bulk job sends a thousand leads per event: one SELECT FOR UPDATE + UPDATE per lead made a 100k-lead
    change take ~100k round trips. (A bulk job of this gateway applies its batches itself, in
    `jobs_api`; this path is for a LeadStatusChanged that reaches the projection unapplied.)
    """
    rows = await session.execute(
        update(lead_view)
        .where(
            # One array parameter: an IN list of a thousand binds costs more to render than to run.
            lead_view.c.id == any_(literal(event.lead_ids, ARRAY(Uuid))),
            lead_view.c.workspace_id == event.workspace_id,
        )
        .values(manual_change_values(event.event_id, event.occurred_at, event.status))
        .returning(lead_view.c.id)
    )
    changed = [row.id for row in rows]
    missing = set(event.lead_ids).difference(changed)
    if missing and (unknown := missing.difference(await _removed(session, event.workspace_id, missing))):
        # As in `_apply_to_lead`: a lead not projected yet; redelivered once its LeadImported is in.
        raise LookupError(f"{len(unknown)} leads not in lead_view yet, e.g. {next(iter(unknown))}")
    return changed


async def _remove_leads(session: AsyncSession, event: LeadsRemoved) -> None:
    """Delete the leads from the list; their timeline stays, closed by a `leads_removed` entry.

    That entry is who removed them (an audit trail) and the tombstone that tells a late event about a removed
    lead (a validation finishing, a status change of a job still running) from one about a lead whose
    LeadImported has not arrived yet: the first is dropped, the second retried.
    """
    rows = await session.execute(
        lead_view.delete()
        .where(
            lead_view.c.id.in_(event.lead_ids),
            lead_view.c.workspace_id == event.workspace_id,
            lead_view.c.campaign_id == event.campaign_id,
        )
        .returning(lead_view.c.id)
    )
    details = removal_details(event.removed_by, event.job_id)
    await _record_timeline(session, event, [(row.id, details) for row in rows])


def removal_details(removed_by: str, job_id: UUID | None) -> dict[str, Any]:
    """What a removal's timeline entry shows."""
    return {"removed_by": removed_by, "job_id": str(job_id) if job_id else None}


async def _removed(session: AsyncSession, workspace_id: UUID, lead_ids: Any) -> set[UUID]:
    """Which of these leads were removed from their campaign (they have a `leads_removed` timeline entry)."""
    rows = await session.execute(
        select(lead_events.c.lead_id).where(
            lead_events.c.lead_id.in_(list(lead_ids)),
            lead_events.c.workspace_id == workspace_id,
            lead_events.c.event_type == "leads_removed",
        )
    )
    return {row.lead_id for row in rows}
