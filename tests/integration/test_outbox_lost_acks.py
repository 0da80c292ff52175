"""The relay against a NATS server that dies with publishes in flight: their acks never come, and neither
the drain nor an eager hand-over waits for them forever; the rows stay, and go out once NATS is back."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client
from sqlalchemy import func, select

from contracts import CampaignCreated, parse_event, subjects
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.outbox import OutboxRelay, PreparedEvent, add_to_outbox
from services.runtime.streams import ensure_streams
from tests.harness import TEST_CLIENT, temporary_nats
from tests.integration.runtime_fixtures import Schema, make_schema
from tests.integration.test_outbox import messages_on

ACK_SECONDS = 1.0
# Far beyond ACK_SECONDS: a wait still running then is one that would never end.
PATIENCE = 15.0


@pytest.fixture
async def schema(migrated_database_url: str) -> AsyncIterator[Schema]:
    async for s in make_schema(migrated_database_url):
        yield s


@pytest.fixture
def own_nats() -> Iterator[EmbeddedNats]:
    """A server of this test alone: it is frozen and killed."""
    with temporary_nats() as server:
        yield server


@pytest.fixture
async def client(own_nats: EmbeddedNats) -> AsyncIterator[Client]:
    connection = await nats.connect(
        own_nats.url_for(TEST_CLIENT), max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    await ensure_streams(connection.jetstream())
    yield connection
    await connection.close()


def relay_for(schema: Schema, nc: Client, database_url: str) -> OutboxRelay:
    return OutboxRelay(
        schema=schema.name,
        outbox=schema.outbox,
        sessions=schema.sessions,
        js=nc.jetstream(),
        database_url=database_url,
        ack_seconds=ACK_SECONDS,
    )


def freeze(server: EmbeddedNats) -> int:
    """SIGSTOP: the server's socket still takes what is sent, and nothing comes back."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    return server.pid


async def crash_and_restart(server: EmbeddedNats, pid: int, nc: Client) -> None:
    """`kill -9` of the frozen server (what it was sent is lost with it), another on the same port."""
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(os.waitpid, pid, 0)
    await asyncio.to_thread(server.start, keep_port=True)
    for _ in range(int(PATIENCE / 0.1)):
        if nc.is_connected:
            return
        await asyncio.sleep(0.1)
    pytest.fail("the client did not reconnect")


async def ends_within(task: asyncio.Task[object], seconds: float) -> None:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        pytest.fail(f"still waiting for acks after {seconds:g} s (acks that will never come)")


async def outbox_rows(schema: Schema) -> int:
    async with schema.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(schema.outbox)) or 0)


async def test_a_drain_whose_acks_died_with_the_server_gives_up_and_publishes_after_the_restart(
    schema: Schema, own_nats: EmbeddedNats, client: Client, migrated_database_url: str
) -> None:
    workspace = uuid.uuid4()
    event = CampaignCreated(workspace_id=workspace, campaign_id=uuid.uuid4(), name="in flight")
    relay = relay_for(schema, client, migrated_database_url)
    async with schema.sessions() as session, session.begin():
        await add_to_outbox(session, schema.outbox, [event])

    pid = freeze(own_nats)
    try:
        draining: asyncio.Task[object] = asyncio.create_task(relay.drain())
        await ends_within(draining, PATIENCE)
        with pytest.raises(TimeoutError):
            draining.result()
    finally:
        await crash_and_restart(own_nats, pid, client)
    # Rolled back: the row is still there, and no longer locked.
    assert await outbox_rows(schema) == 1

    assert await asyncio.wait_for(relay.drain(), PATIENCE) == 1
    assert await outbox_rows(schema) == 0
    stored = await messages_on(client, subjects.event_subject(workspace, "campaign_created"))
    assert [parse_event(m) for m in stored] == [event]


async def test_rows_handed_over_eagerly_when_the_server_died_go_back_to_the_drain(
    schema: Schema, own_nats: EmbeddedNats, client: Client, migrated_database_url: str
) -> None:
    workspace = uuid.uuid4()
    events = [
        CampaignCreated(workspace_id=workspace, campaign_id=uuid.uuid4(), name=f"eager {n}") for n in range(3)
    ]
    prepared = [PreparedEvent(e.event_id, e.subject, e.to_bytes()) for e in events]
    relay = relay_for(schema, client, migrated_database_url)

    pid = freeze(own_nats)
    try:
        with relay.eagerly([e.event_id for e in events]) as publish_now:
            async with schema.sessions() as session, session.begin():
                await add_to_outbox(session, schema.outbox, prepared)
            assert await relay.drain() == 0  # the drain leaves handed-over rows alone
            publishing: asyncio.Task[None] = publish_now(prepared)
        await ends_within(publishing, PATIENCE)
    finally:
        await crash_and_restart(own_nats, pid, client)
    assert relay.claimed == set()
    assert await outbox_rows(schema) == 3

    assert await asyncio.wait_for(relay.drain(), PATIENCE) == 3
    stored = await messages_on(client, subjects.event_subject(workspace, "campaign_created"))
    assert [parse_event(m) for m in stored] == events


async def test_rows_handed_over_eagerly_are_published_once_and_deleted_by_the_next_drain(
    schema: Schema, client: Client, migrated_database_url: str
) -> None:
    workspace = uuid.uuid4()
    events = [
        CampaignCreated(workspace_id=workspace, campaign_id=uuid.uuid4(), name=f"eager {n}") for n in range(3)
    ]
    prepared = [PreparedEvent(e.event_id, e.subject, e.to_bytes()) for e in events]
    never_committed = uuid.uuid4()
    relay = relay_for(schema, client, migrated_database_url)

    with relay.eagerly([*(e.event_id for e in events), never_committed]) as publish_now:
        async with schema.sessions() as session, session.begin():
            await add_to_outbox(session, schema.outbox, prepared)
        publishing = publish_now(prepared)
    assert relay.claimed == {e.event_id for e in events}  # what was not handed over is released at once
    await asyncio.wait_for(publishing, PATIENCE)
    assert relay.published == 3
    # Published, their rows still there and left alone: the drain's next pass deletes them.
    assert await outbox_rows(schema) == 3
    assert await relay.drain() == 0
    assert relay.claimed == set()
    assert await outbox_rows(schema) == 0
    stored = await messages_on(client, subjects.event_subject(workspace, "campaign_created"))
    assert [parse_event(m) for m in stored] == events
