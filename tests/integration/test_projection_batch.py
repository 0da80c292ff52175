"""The projection's batch path on a real PostgreSQL: a consumer batch applied by `project_batch` leaves
lead_view, the timelines and the campaign's day counts, sends and answers (its analytics) exactly as the same
events applied one at a time by `project` do, a verdict batch (`LeadsValidated`) exactly as its verdicts one
at a time."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from contracts import (
    EmailBounced,
    EmailSent,
    Event,
    LeadEvent,
    LeadImported,
    LeadState,
    LeadStatus,
    LeadStatusChanged,
    LeadUnsubscribed,
    LeadValidated,
    ReplyDetected,
    Verdict,
    apply,
)
from contracts.events import (
    ImportedLead,
    LeadCompleted,
    LeadsRemoved,
    LeadsScheduled,
    LeadsValidated,
    ScheduledLead,
    SendFailed,
    SendUncertain,
    StepDue,
    StepNotSendable,
    ValidatedLead,
)
from services.gateway.projection.consumer import project, project_batch
from services.gateway.projection.lead_events import SEQUENCE_COLUMNS, STATE_COLUMNS
from services.gateway.tables import campaign_days, campaign_responses, campaign_sends, lead_events, lead_view
from services.runtime.db import create_engine, session_factory

LEADS = 4
T0 = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # events an hour apart fall on two UTC days
MAILBOX = uuid.UUID(int=7)


@dataclass(frozen=True)
class Step:
    """One event of the sequence, for lead number `lead` (all leads for a manual change, leads `lead` to
    the last for a verdict batch)."""

    kind: str
    lead: int
    minutes: int
    value: int
    run: int = 0


steps = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(
            [
                "validated",
                "validated_batch",
                "sent",
                "bounced",
                "replied",
                "unsubscribed",
                "completed",
                "manual",
                "removed",
                "scheduled",
                "step_due",
                "uncertain",
                "send_failed",
                "not_sendable",
                "smtp_bounced",
            ]
        ),
        lead=st.integers(0, LEADS - 1),
        minutes=st.integers(0, 60),  # events arrive out of order: their times are shuffled
        value=st.integers(0, 5),
        run=st.integers(0, 2),  # a re-run's verdicts replace older runs' ones, whatever order they arrive in
    ),
    min_size=1,
    max_size=25,
)


def events_for(
    steps: list[Step], workspace_id: uuid.UUID, campaign_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[Event]:
    """The events of `steps` for one campaign; event ids depend on the step only, so two campaigns given
    the same steps get the same ids (and manual changes compare the same way)."""
    common: dict[str, Any] = {"workspace_id": workspace_id, "campaign_id": campaign_id}
    events: list[Event] = []
    for n, step in enumerate(steps):
        lead: dict[str, Any] = {**common, "lead_id": ids[step.lead], "event_id": uuid.UUID(int=n + 1)}
        at = T0 + timedelta(minutes=step.minutes)
        email = f"lead{step.lead}@firma.cz"
        match step.kind:
            case "validated":
                verdict = [Verdict.VALID, Verdict.INVALID, Verdict.UNKNOWN][step.value % 3]
                events.append(
                    LeadValidated(
                        **lead,
                        occurred_at=at,
                        email=email,
                        verdict=verdict,
                        reason=f"r{step.value}",
                        mx=None,
                        smtp_code=None,
                        run=step.run,
                    )
                )
            case "validated_batch":
                events.append(
                    LeadsValidated(
                        **common,
                        event_id=uuid.UUID(int=n + 1),
                        occurred_at=at,
                        leads=[
                            ValidatedLead(
                                lead_id=ids[i],
                                email=f"lead{i}@firma.cz",
                                verdict=[Verdict.VALID, Verdict.INVALID, Verdict.UNKNOWN][
                                    (step.value + i) % 3
                                ],
                                reason=f"b{step.value + i}",
                                smtp_code=550,
                                run=step.run,
                            )
                            for i in range(step.lead, LEADS)
                        ],
                    )
                )
            case "sent":
                events.append(
                    EmailSent(
                        **lead,
                        occurred_at=at,
                        step=step.value % 3 + 1,
                        total_steps=3,
                        message_id=f"m{n}",
                        mailbox="a@b.cz",
                        mailbox_id=MAILBOX,
                        subject=f"Hello {n}",
                    )
                )
            case "scheduled":
                events.append(
                    LeadsScheduled(
                        **common,
                        event_id=uuid.UUID(int=n + 1),
                        occurred_at=at,
                        leads=[
                            ScheduledLead(
                                lead_id=ids[i],
                                step=(step.value + i) % 3 + 1,
                                total_steps=3,
                                due_at=None if step.run == 2 else at + timedelta(hours=step.value + i),
                            )
                            for i in range(step.lead, LEADS)
                        ],
                    )
                )
            case "step_due":
                events.append(
                    StepDue(
                        **lead,
                        occurred_at=at,
                        step=step.value % 3 + 1,
                        total_steps=3,
                        due_at=at,
                        email=email,
                        subject="Hi",
                        body="Hello",
                    )
                )
            case "uncertain":
                events.append(
                    SendUncertain(
                        **lead,
                        occurred_at=at,
                        step=step.value % 3 + 1,
                        total_steps=3,
                        message_id=f"u{n}",
                        mailbox_id=MAILBOX,
                        mailbox="a@b.cz",
                    )
                )
            case "send_failed":
                events.append(
                    SendFailed(
                        **lead,
                        occurred_at=at,
                        step=step.value % 3 + 1,
                        total_steps=3,
                        reason=["suppressed", "rejected", "expired"][step.value % 3],
                        smtp_code=554 if step.value % 3 == 1 else None,
                    )
                )
            case "not_sendable":
                events.append(
                    StepNotSendable(
                        **lead, occurred_at=at, step=step.value % 3 + 1, total_steps=3, missing=["first_name"]
                    )
                )
            case "smtp_bounced":
                events.append(
                    EmailBounced(
                        **lead,
                        occurred_at=at,
                        source="smtp",
                        kind="hard",
                        smtp_code=550,
                        email=email,
                        step=step.value % 3 + 1,
                        message_id=f"m{n}",
                        mailbox_id=MAILBOX,
                    )
                )
            case "bounced":
                events.append(
                    EmailBounced(
                        **lead, occurred_at=at, source="dsn", kind="hard", smtp_code=550, email=email
                    )
                )
            case "replied":
                events.append(ReplyDetected(**lead, occurred_at=at, message_id=f"r{n}", from_address=email))
            case "unsubscribed":
                events.append(LeadUnsubscribed(**lead, occurred_at=at, email=email, source="link"))
            case "completed":
                events.append(LeadCompleted(**lead, occurred_at=at, total_steps=3))
            case "manual":
                status = list(LeadStatus)[step.value % len(LeadStatus)]
                events.append(
                    LeadStatusChanged(
                        **common,
                        event_id=uuid.UUID(int=n + 1),
                        occurred_at=at,
                        lead_ids=ids,
                        status=status,
                        changed_by="test",
                    )
                )
            case "removed":
                events.append(
                    LeadsRemoved(
                        **common,
                        event_id=uuid.UUID(int=n + 1),
                        occurred_at=at,
                        lead_ids=[ids[step.lead]],
                        removed_by="test",
                    )
                )
    return events


IMPORTED_AT = T0 - timedelta(days=1)


async def imported(session: Any, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(LEADS)]
    await project(
        session,
        LeadImported(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            import_id=uuid.uuid4(),
            chunk=0,
            occurred_at=IMPORTED_AT,
            leads=[
                ImportedLead(lead_id=lead_id, email=f"lead{i}@firma.cz", row=i + 1)
                for i, lead_id in enumerate(ids)
            ],
        ),
    )
    return ids


def folded(events: list[Event], lead_id: uuid.UUID) -> LeadState | None:
    """The lead's state by the contracts' fold of its events in this order (None once it is removed)."""
    state = LeadState(LeadStatus.PENDING, IMPORTED_AT)
    for event in single_lead_events(events):
        match event:
            case LeadsRemoved() if lead_id in event.lead_ids:
                return None
            case LeadStatusChanged() if lead_id in event.lead_ids:
                state = apply(state, event)
            case LeadEvent() if event.lead_id == lead_id:
                state = apply(state, event)
    return state


async def stored_state(session: Any, lead_id: uuid.UUID) -> LeadState | None:
    row = (await session.execute(select(*STATE_COLUMNS).where(lead_view.c.id == lead_id))).first()
    if row is None:
        return None
    status, status_at, manual_at, manual_id, base_status, base_at, verdict_run, verdict_invalid_at = row
    return LeadState(
        LeadStatus(status),
        status_at,
        manual_at,
        manual_id,
        None if base_status is None else LeadStatus(base_status),
        base_at,
        verdict_run,
        verdict_invalid_at,
    )


async def outcome(session: Any, campaign_id: uuid.UUID, ids: list[uuid.UUID]) -> tuple[list[Any], ...]:
    """Each lead's row (None once removed) and timeline after its import (whose ids differ), by lead number,
    and the campaign's day counts."""
    columns = [
        *STATE_COLUMNS,
        *SEQUENCE_COLUMNS,
        lead_view.c.validation,
        lead_view.c.validation_reason,
        lead_view.c.last_activity_at,
    ]
    rows = []
    timelines = []
    for lead_id in ids:
        row = (await session.execute(select(*columns).where(lead_view.c.id == lead_id))).first()
        rows.append(tuple(row) if row else None)
        entries = await session.execute(
            select(
                lead_events.c.event_id,
                lead_events.c.event_type,
                lead_events.c.source,
                lead_events.c.occurred_at,
                lead_events.c.data,
            )
            .where(lead_events.c.lead_id == lead_id, lead_events.c.event_type != "lead_imported")
            .order_by(lead_events.c.occurred_at, lead_events.c.event_id)
        )
        timelines.append([tuple(entry) for entry in entries])
    days = await session.execute(
        select(
            campaign_days.c.day,
            campaign_days.c.sent,
            campaign_days.c.bounced,
            campaign_days.c.unsubscribed,
            campaign_days.c.completed,
        )
        .where(campaign_days.c.campaign_id == campaign_id)
        .order_by(campaign_days.c.day)
    )
    sends = await session.execute(
        select(
            campaign_sends.c.step,
            campaign_sends.c.mailbox_id,
            campaign_sends.c.mailbox,
            campaign_sends.c.sent,
        )
        .where(campaign_sends.c.campaign_id == campaign_id)
        .order_by(campaign_sends.c.step, campaign_sends.c.mailbox_id)
    )
    # An answer's id is its event's (the same in every campaign here) or its lead's (by lead number).
    answers = await session.execute(
        select(
            campaign_responses.c.response_id,
            campaign_responses.c.lead_id,
            campaign_responses.c.kind,
            campaign_responses.c.step,
            campaign_responses.c.mailbox_id,
            campaign_responses.c.day,
            campaign_responses.c.as_of,
        ).where(campaign_responses.c.campaign_id == campaign_id)
    )
    numbered = sorted(
        (
            f"lead{ids.index(row.response_id)}" if row.response_id in ids else str(row.response_id),
            ids.index(row.lead_id),
            *row[2:],
        )
        for row in answers
    )
    return rows, timelines, [tuple(day) for day in days], [tuple(row) for row in sends], numbered


def single_lead_events(events: list[Event]) -> list[Event]:
    """The events with every verdict batch replaced by its verdicts, one event each."""
    return [
        e for event in events for e in (event.one_by_one() if isinstance(event, LeadsValidated) else [event])
    ]


async def compare(database_url: str, sequence: list[Step]) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        workspace_id = uuid.uuid4()
        single, one_by_one, batched = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        async with sessions() as session, session.begin():
            ids_s = await imported(session, workspace_id, single)
            ids_a = await imported(session, workspace_id, one_by_one)
            ids_b = await imported(session, workspace_id, batched)
        # The reference: every verdict on its own, each event in its own transaction.
        for event in single_lead_events(events_for(sequence, workspace_id, single, ids_s)):
            async with sessions() as session, session.begin():
                await project(session, event)
        # The consumer's retry path: each event (a verdict batch whole) in its own transaction.
        for event in events_for(sequence, workspace_id, one_by_one, ids_a):
            async with sessions() as session, session.begin():
                await project(session, event)
        async with sessions() as session, session.begin():
            await project_batch(session, events_for(sequence, workspace_id, batched, ids_b))
        async with sessions() as session:
            reference = await outcome(session, single, ids_s)
            assert await outcome(session, one_by_one, ids_a) == reference
            assert await outcome(session, batched, ids_b) == reference
            # And the SQL that restates the fold (a manual change's CASE) agrees with the fold itself.
            events = events_for(sequence, workspace_id, single, ids_s)
            for lead_id in ids_s:
                assert await stored_state(session, lead_id) == folded(events, lead_id)
    finally:
        await engine.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
# The way back from Invalid, in the orders that matter, besides what hypothesis draws: a re-run finding the
# lead valid (a batch, then one verdict); a send while Invalid, kept; a late first-run verdict after the
# re-run; a manual change replacing an invalid verdict, then a re-run.
@example(sequence=[Step("validated_batch", 0, 5, 1), Step("validated_batch", 0, 9, 0, run=1)])
@example(sequence=[Step("validated", 1, 5, 1), Step("sent", 1, 7, 0), Step("validated", 1, 9, 0, run=1)])
@example(sequence=[Step("validated", 2, 9, 2, run=1), Step("validated", 2, 5, 1)])
@example(sequence=[Step("validated", 0, 5, 1), Step("manual", 0, 10, 0), Step("validated", 0, 12, 2, run=1)])
def test_a_batch_is_applied_as_its_events_one_by_one_and_as_the_status_fold_says(
    migrated_database_url: str, sequence: list[Step]
) -> None:
    asyncio.run(compare(migrated_database_url, sequence))
