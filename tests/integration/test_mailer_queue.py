"""The mailer's queue on a real PostgreSQL: a consumer batch of StepDue becomes one queued send per
(lead, step) with every field as the event had it (the thread's Message-IDs whatever characters they hold),
a (lead, step) already queued is left alone, and a past due time is queued as now."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import any_, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import Uuid

from contracts.events import StepDue
from services.mailer.sends_repository import LEASES, SendRepository
from services.mailer.tables import sends
from services.runtime.db import create_engine, session_factory

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

# Message-IDs as they come from other people's mail: quotes, backslashes, commas, braces, spaces, NULL.
ODD_REFERENCES = [
    [],
    ["<a@firma.cz>"],
    ['<"quoted"@firma.cz>', "<back\\slash@x>", "<comma,brace{}@x>", "<sp ace@x>", "NULL", ""],
    ["<ž@příklad.cz>", "<tab\there@x>", "<line\nbreak@x>"],
]


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database_url)
    yield engine
    await engine.dispose()


def step_due(references: list[str], **fields: object) -> StepDue:
    values: dict[str, object] = {
        "workspace_id": uuid.uuid4(),
        "campaign_id": uuid.uuid4(),
        "lead_id": uuid.uuid4(),
        "step": 2,
        "total_steps": 3,
        "due_at": NOW + timedelta(minutes=5),
        "email": "jan@example.test",
        "subject": "Re: Nabídka",
        "body": "Dobrý den,\n\tještě jednou.",
        "in_reply_to": references[-1] if references else None,
        "references": references,
        "mailbox_id": uuid.uuid4() if references else None,
    }
    values.update(fields)
    return StepDue.model_validate(values)


async def queue(engine: AsyncEngine, events: list[StepDue], now: datetime = NOW) -> None:
    async with session_factory(engine=engine)() as session, session.begin():
        await SendRepository.from_session(session).queue(events, now)


async def rows(engine: AsyncEngine, events: list[StepDue]) -> dict[uuid.UUID, dict[str, object]]:
    async with session_factory(engine=engine)() as session:
        found = await session.execute(select(sends).where(sends.c.id.in_([e.event_id for e in events])))
        return {row.id: dict(row._mapping) for row in found}


async def test_a_batch_is_queued_with_every_field_as_the_event_had_it(engine: AsyncEngine) -> None:
    events = [step_due(references) for references in ODD_REFERENCES]
    late = step_due([], due_at=NOW - timedelta(days=1))
    await queue(engine, [*events, late])
    stored = await rows(engine, [*events, late])
    for event in events:
        row = stored[event.event_id]
        assert (row["workspace_id"], row["campaign_id"], row["lead_id"]) == (
            event.workspace_id,
            event.campaign_id,
            event.lead_id,
        )
        assert (row["step"], row["total_steps"], row["email"]) == (2, 3, "jan@example.test")
        assert (row["subject"], row["body"]) == (event.subject_line, event.body)
        assert row["in_reply_to"] == event.in_reply_to
        assert row["references"] == list(event.references)
        assert row["preferred_mailbox_id"] == event.mailbox_id
        assert (row["state"], row["not_before"], row["queued_at"]) == ("queued", event.due_at, NOW)
    assert stored[late.event_id]["not_before"] == NOW  # due in the past: queued as of now


async def test_a_lead_step_already_queued_is_left_as_it_was(engine: AsyncEngine) -> None:
    first = step_due(["<a@firma.cz>"])
    again = first.model_copy(update={"event_id": uuid.uuid4(), "body": "changed"})
    await queue(engine, [first])
    # A second StepDue for the same (lead, step), in a later batch and twice within one batch.
    await queue(engine, [again, again.model_copy(update={"event_id": uuid.uuid4()})])
    async with session_factory(engine=engine)() as session:
        found = (
            await session.execute(select(sends.c.id, sends.c.body).where(sends.c.lead_id == first.lead_id))
        ).all()
    assert [(row.id, row.body) for row in found] == [(first.event_id, first.body)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(references=st.lists(st.text(min_size=0, max_size=20).filter(lambda s: "\x00" not in s), max_size=4))
async def test_any_thread_reads_back_as_it_was_queued(engine: AsyncEngine, references: list[str]) -> None:
    event = step_due(references)
    await queue(engine, [event])
    assert (await rows(engine, [event]))[event.event_id]["references"] == references


async def test_a_claim_rewrites_queued_rows_in_place(engine: AsyncEngine) -> None:
    """A claim changes no indexed column and the pages keep room (migration mailer_0003), so PostgreSQL
    updates the claimed rows without new index entries (HOT): with `leased_until` indexed, or pages filled
    to the brim, none would be."""
    events = [step_due([], body="Dobrý den,\n" + "x" * 900) for _ in range(60)]
    await queue(engine, events)
    ids = literal([e.event_id for e in events], ARRAY(Uuid))
    async with session_factory(engine=engine)() as session, session.begin():
        await session.execute(
            update(sends).where(sends.c.id == any_(ids)).values(LEASES.lease_values(timedelta(minutes=1)))
        )
        updated, hot = (
            await session.execute(
                text(
                    "SELECT pg_stat_get_xact_tuples_updated('mailer.sends'::regclass),"
                    " pg_stat_get_xact_tuples_hot_updated('mailer.sends'::regclass)"
                )
            )
        ).one()
    assert updated == len(events)
    # Another test's rows may share a page and have taken its room: nearly all, not necessarily all.
    assert hot >= 0.8 * updated


async def test_a_cancelled_send_is_queued_again_by_a_new_step_due_and_nothing_else_is(
    engine: AsyncEngine,
) -> None:
    """A lead's sequence stopped (its queued send cancelled) and resumed: the sequencer's new StepDue for the
    same (lead, step) queues it again. A sent one stays sent whatever arrives."""
    cancelled, sent = step_due(["<a@firma.cz>"]), step_due(["<b@firma.cz>"])
    await queue(engine, [cancelled, sent])
    async with session_factory(engine=engine)() as session, session.begin():
        await session.execute(
            update(sends).where(sends.c.id == cancelled.event_id).values(state="cancelled", attempts=2)
        )
        await session.execute(update(sends).where(sends.c.id == sent.event_id).values(state="sent"))
    later = NOW + timedelta(hours=1)
    resumed = cancelled.model_copy(update={"event_id": uuid.uuid4(), "body": "again", "due_at": later})
    repeated = sent.model_copy(update={"event_id": uuid.uuid4(), "body": "never"})
    await queue(engine, [resumed, resumed.model_copy(update={"event_id": uuid.uuid4()}), repeated])

    stored = await rows(engine, [cancelled, sent])
    assert (stored[cancelled.event_id]["state"], stored[cancelled.event_id]["body"]) == ("queued", "again")
    assert (stored[cancelled.event_id]["not_before"], stored[cancelled.event_id]["attempts"]) == (later, 0)
    assert (stored[sent.event_id]["state"], stored[sent.event_id]["body"]) == ("sent", sent.body)
