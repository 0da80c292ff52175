"""Outbox → JetStream: committed events are published once, a re-publish is deduplicated by event id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import func, select

from contracts import CampaignCreated, parse_event, subjects
from services.runtime.outbox import OutboxRelay, PreparedEvent, add_to_outbox
from tests.integration.runtime_fixtures import Schema, make_schema


@pytest.fixture
async def schema(migrated_database_url: str) -> AsyncIterator[Schema]:
    async for s in make_schema(migrated_database_url):
        yield s


def relay_for(schema: Schema, nc: Client, database_url: str) -> OutboxRelay:
    return OutboxRelay(
        schema=schema.name,
        outbox=schema.outbox,
        sessions=schema.sessions,
        js=nc.jetstream(),
        database_url=database_url,
        poll_seconds=30,  # long: the test proves NOTIFY wakes the relay, not polling
    )


async def messages_on(nc: Client, subject: str) -> list[bytes]:
    js = nc.jetstream()
    sub = await js.subscribe(
        subject, ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    out: list[bytes] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            out.append(msg.data)
    except TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return out


async def test_outbox_publishes_once_and_dedupes(
    schema: Schema, nc: Client, migrated_database_url: str
) -> None:
    workspace = uuid.uuid4()
    event = CampaignCreated(workspace_id=workspace, campaign_id=uuid.uuid4(), name="outbox test")
    relay = relay_for(schema, nc, migrated_database_url)

    async with schema.sessions() as session, session.begin():
        await add_to_outbox(session, schema.outbox, [event])
        # The same event added twice in one transaction is stored once.
        await add_to_outbox(session, schema.outbox, [event])
    assert await relay.drain() == 1

    # A relay that crashed after publishing but before deleting publishes the row again: JetStream drops it.
    async with schema.sessions() as session, session.begin():
        await add_to_outbox(session, schema.outbox, [event])
    assert await relay.drain() == 1

    stored = await messages_on(nc, subjects.event_subject(workspace, "campaign_created"))
    assert len(stored) == 1
    assert parse_event(stored[0]) == event
    async with schema.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(schema.outbox)) == 0


async def test_a_write_keeps_the_events_in_order_and_their_bytes_as_given(schema: Schema) -> None:
    """One write of many rows (one statement over arrays): stored in the order given, each payload byte for
    byte (NUL, backslashes, quotes, braces, non-UTF-8), an event id repeated in the same write stored once."""
    events = [
        PreparedEvent(
            uuid.uuid4(), f"leadflow.test.{i}", bytes([i % 256, 0, 92, 34, 123, 125, 255]) * (i % 7)
        )
        for i in range(300)
    ]
    async with schema.sessions() as session, session.begin():
        await add_to_outbox(session, schema.outbox, [*events, events[5]])
    async with schema.sessions() as session:
        rows = (
            await session.execute(
                select(schema.outbox.c.event_id, schema.outbox.c.subject, schema.outbox.c.payload).order_by(
                    schema.outbox.c.id
                )
            )
        ).all()
    assert [tuple(row) for row in rows] == [tuple(e) for e in events]


async def test_relay_is_woken_by_notify(schema: Schema, nc: Client, migrated_database_url: str) -> None:
    workspace = uuid.uuid4()
    relay = relay_for(schema, nc, migrated_database_url)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # listening, first drain done, now waiting up to 30 s for a NOTIFY
        event = CampaignCreated(workspace_id=workspace, campaign_id=uuid.uuid4(), name="notify")
        async with schema.sessions() as session, session.begin():
            await add_to_outbox(session, schema.outbox, [event])
        for _ in range(50):
            if relay.published:
                break
            await asyncio.sleep(0.1)
        assert relay.published == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(await messages_on(nc, subjects.event_subject(workspace, "campaign_created"))) == 1


async def test_uncommitted_events_are_never_published(
    schema: Schema, nc: Client, migrated_database_url: str
) -> None:
    workspace = uuid.uuid4()
    event = CampaignCreated(workspace_id=workspace, campaign_id=uuid.uuid4(), name="rolled back")
    async with schema.sessions() as session, session.begin():
        await add_to_outbox(session, schema.outbox, [event])
        await session.rollback()
    assert await relay_for(schema, nc, migrated_database_url).drain() == 0
    assert await messages_on(nc, subjects.event_subject(workspace, "campaign_created")) == []


async def test_claimed_rows_are_left_to_their_producer_until_released(
    schema: Schema, nc: Client, migrated_database_url: str
) -> None:
    workspace = uuid.uuid4()
    claimed, other = (
        CampaignCreated(workspace_id=workspace, campaign_id=uuid.uuid4(), name=name) for name in ("a", "b")
    )
    relay = relay_for(schema, nc, migrated_database_url)
    relay.claim([claimed.event_id])
    async with schema.sessions() as session, session.begin():
        await add_to_outbox(session, schema.outbox, [claimed, other])
    assert await relay.drain() == 1  # only the unclaimed one
    published = [
        parse_event(m) for m in await messages_on(nc, subjects.event_subject(workspace, "campaign_created"))
    ]
    assert published == [other]

    # The producer could not publish it: released, the relay publishes it.
    relay.release([claimed.event_id])
    assert await relay.drain() == 1
    published = [
        parse_event(m) for m in await messages_on(nc, subjects.event_subject(workspace, "campaign_created"))
    ]
    assert published == [other, claimed]
