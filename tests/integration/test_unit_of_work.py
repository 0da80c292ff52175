"""The unit of work commits a service's state, its emitted events and its handled marks together."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from contracts import CampaignCreated
from services.runtime.unit_of_work import unit_of_work
from tests.integration.runtime_fixtures import Schema, make_schema


@pytest.fixture
async def schema(migrated_database_url: str) -> AsyncIterator[Schema]:
    async for s in make_schema(migrated_database_url):
        yield s


def created(name: str) -> CampaignCreated:
    return CampaignCreated(workspace_id=uuid.uuid4(), campaign_id=uuid.uuid4(), name=name)


async def counts(schema: Schema) -> tuple[int, int, int]:
    async with schema.sessions() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(schema.effects)) or 0),
            int(await session.scalar(select(func.count()).select_from(schema.outbox)) or 0),
            int(await session.scalar(select(func.count()).select_from(schema.processed_events)) or 0),
        )


async def test_state_events_and_marks_commit_together(schema: Schema) -> None:
    event, echoed = created("a"), created("b")
    async with unit_of_work(
        schema.sessions, outbox=schema.outbox, processed_events=schema.processed_events
    ) as uow:
        assert await uow.first_time("consumer-a", [event.event_id, event.event_id]) == {event.event_id}
        await uow.session.execute(schema.effects.insert().values(event_id=event.event_id, note="x"))
        uow.emit(echoed)
        uow.handled_here("consumer-b", [echoed.event_id])
        assert list(uow.emitted) == [echoed]
    assert await counts(schema) == (1, 1, 2)
    async with schema.sessions() as session:
        row = (await session.execute(select(schema.outbox.c.event_id, schema.outbox.c.payload))).one()
    assert row.event_id == echoed.event_id and row.payload == echoed.to_bytes()

    # Marked once: the same event is not new to that consumer any more, and is to another one.
    async with unit_of_work(
        schema.sessions, outbox=schema.outbox, processed_events=schema.processed_events
    ) as uow:
        assert await uow.first_time("consumer-a", [event.event_id]) == set()
        assert await uow.first_time("consumer-c", [event.event_id]) == {event.event_id}
        assert await uow.first_time("consumer-c", []) == set()


async def test_a_block_that_raises_keeps_nothing(schema: Schema) -> None:
    event = created("a")
    with pytest.raises(RuntimeError, match="handler failed"):
        async with unit_of_work(
            schema.sessions, outbox=schema.outbox, processed_events=schema.processed_events
        ) as uow:
            await uow.first_time("consumer-a", [event.event_id])
            await uow.session.execute(schema.effects.insert().values(event_id=event.event_id, note="x"))
            uow.emit(created("b"))
            await uow.flush()  # even rows already written roll back
            uow.handled_here("consumer-b", [uuid.uuid4()])
            raise RuntimeError("handler failed")
    assert await counts(schema) == (0, 0, 0)
