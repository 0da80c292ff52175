"""The gateway's imports consumer on real NATS and PostgreSQL: it lists new imports apart from the consumer
of every event, and the two together list each LeadImported exactly once, also when the imports consumer
is added to a deployment whose stream already holds imports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from functools import partial

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import delete, func, select

from contracts import ImportState, LeadImported, subjects
from contracts.events import ImportCompleted, ImportedLead
from services.composition import MIGRATED_SERVICES
from services.gateway.app import create_service
from services.gateway.projection.consumer import PROJECTION_DURABLE, project, project_batch
from services.gateway.projection.imports import IMPORTS_DURABLE, arriving_leads, list_imported
from services.gateway.tables import import_listed, lead_events, lead_view, metadata, processed_events
from services.runtime import migrations
from services.runtime.db import create_engine, session_factory
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.streams import ensure_streams
from tests.harness import TEST_CLIENT, eventually, temporary_nats

WORKSPACE = uuid.UUID("7e0d1f9e-0000-4000-8000-000000000001")
CAMPAIGN = uuid.UUID("7e0d1f9e-0000-4000-8000-000000000002")


def chunk(import_id: uuid.UUID, number: int, size: int = 3) -> LeadImported:
    return LeadImported(
        event_id=uuid.uuid5(import_id, str(number)),
        workspace_id=WORKSPACE,
        campaign_id=CAMPAIGN,
        import_id=import_id,
        chunk=number,
        leads=[
            ImportedLead(lead_id=uuid.uuid4(), email=f"c{number}l{i}@firma.cz", row=number * size + i + 1)
            for i in range(size)
        ],
    )


@pytest.fixture
def own_nats() -> Iterator[EmbeddedNats]:
    """A NATS server of this test alone: the gateway's durables here are the real ones, by their names."""
    with temporary_nats() as server:
        yield server


async def test_an_imports_consumer_added_to_a_stream_with_history_lists_every_chunk_once(
    own_nats: EmbeddedNats, fresh_database_url: Callable[[], str]
) -> None:
    url = fresh_database_url()
    migrations.upgrade(url, MIGRATED_SERVICES)
    # The gateway's own NATS user: its consumers must be possible with exactly its permissions.
    settings = Settings(
        nats_url=own_nats.url,
        nats_user="gateway",
        nats_password=own_nats.credentials.password("gateway"),
        database_url=url,
    )
    engine = create_engine(url)
    sessions = session_factory(engine)
    nc = await nats.connect(own_nats.url_for(TEST_CLIENT))
    js = nc.jetstream()
    await ensure_streams(js)
    import_id = uuid.uuid4()
    chunks = [chunk(import_id, n) for n in range(3)]

    async def publish(event: LeadImported | ImportCompleted) -> None:
        await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})

    async def listed() -> int:
        async with sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(lead_view)) or 0)

    try:
        # The gateway as it was: one consumer of every event, which listed chunk 0.
        await publish(chunks[0])
        before = Service(name="gateway", metadata=metadata, settings=settings)
        before.consume(
            None,
            lambda uow, event: project(uow.session, event),
            durable=PROJECTION_DURABLE,
            batch_handler=lambda uow, events: project_batch(uow.session, events),
        )
        async with before.running():
            await eventually(lambda: _equals(listed, 3), within=20)
        async with sessions() as session, session.begin():  # what that gateway did not record
            await session.execute(
                delete(processed_events).where(processed_events.c.consumer == IMPORTS_DURABLE)
            )
            await session.execute(delete(import_listed))
        # Chunk 1 arrives while the gateway is down: in the old consumer's backlog.
        await publish(chunks[1])

        service = create_service(settings)
        async with service.running():
            await publish(chunks[2])
            await publish(
                ImportCompleted(
                    workspace_id=WORKSPACE,
                    campaign_id=CAMPAIGN,
                    import_id=import_id,
                    state=ImportState.COMPLETED,
                    counts={"imported": 9},
                )
            )
            await eventually(lambda: _equals(listed, 9), within=20)
            for durable in (PROJECTION_DURABLE, IMPORTS_DURABLE):
                await eventually(partial(_drained, js, durable), within=20)
            imports = next(c for c in service.consumers if c.durable == IMPORTS_DURABLE)
            # It started at the stream's end: chunks 0 and 1 were never its to list.
            assert imports.handled == 2

        async with sessions() as session:
            entries = await session.execute(
                select(lead_events.c.lead_id, func.count())
                .where(lead_events.c.event_type == "lead_imported")
                .group_by(lead_events.c.lead_id)
            )
            assert sorted(n for _, n in entries) == [1] * 9  # each lead listed once
            tallies = (await session.execute(select(import_listed.c.n))).scalars().all()
            assert tallies == [3, 3]  # chunks 1 and 2, once each (chunk 0 was listed before tallies)
            assert await arriving_leads(session, WORKSPACE, [CAMPAIGN]) == {CAMPAIGN: 0}
    finally:
        await nc.close()
        await engine.dispose()


async def _equals(read: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await read() == expected


async def _drained(js: JetStreamContext, durable: str) -> bool:
    info = await js.consumer_info(subjects.STREAM, durable)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def test_a_chunk_both_consumers_reach_at_once_is_listed_by_one(migrated_database_url: str) -> None:
    engine = create_engine(migrated_database_url)
    sessions = session_factory(engine)
    event = chunk(uuid.uuid4(), 0)
    try:
        # The imports consumer records the event as processed and lists it, not committed yet ...
        async with sessions() as imports_session, imports_session.begin():
            await imports_session.execute(
                processed_events.insert().values(consumer=IMPORTS_DURABLE, event_id=event.event_id)
            )
            await list_imported(imports_session, event)

            async def every_event_consumer() -> None:
                async with sessions() as session, session.begin():
                    await project(session, event)

            # ... while the consumer of every event reaches the same chunk: it waits for the outcome.
            other = asyncio.create_task(every_event_consumer())
            await asyncio.sleep(0.5)
            assert not other.done()
        await asyncio.wait_for(other, 10)
        async with sessions() as session:
            tallies = (
                (
                    await session.execute(
                        select(import_listed.c.n).where(import_listed.c.import_id == event.import_id)
                    )
                )
                .scalars()
                .all()
            )
            assert tallies == [3]
            entries = await session.scalar(
                select(func.count()).where(
                    lead_events.c.event_id == event.event_id, lead_events.c.event_type == "lead_imported"
                )
            )
            assert entries == 3
    finally:
        await engine.dispose()
