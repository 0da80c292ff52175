"""Idempotent durable consumers: exactly-once effects across redelivery, poison messages dead-lettered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client
from sqlalchemy import func, select

from contracts import CampaignCreated, Event, subjects
from services.runtime.consumer import EventConsumer
from services.runtime.embedded_pg import EmbeddedPostgres
from services.runtime.unit_of_work import UnitOfWork
from tests.integration.runtime_fixtures import Schema, make_schema


@pytest.fixture
async def schema(migrated_database_url: str) -> AsyncIterator[Schema]:
    async for s in make_schema(migrated_database_url):
        yield s


class Recorder:
    """A handler that writes an effect row and emits an event, and fails on the deliveries the test
    chooses."""

    def __init__(self, schema: Schema, fail_times: int) -> None:
        self.schema = schema
        self.fail_times = fail_times
        self.calls = 0
        self.done = asyncio.Event()

    async def __call__(self, uow: UnitOfWork, event: Event) -> None:
        self.calls += 1
        await uow.session.execute(
            self.schema.effects.insert().values(event_id=event.event_id, note="applied")
        )
        uow.emit(CampaignCreated(workspace_id=event.workspace_id, campaign_id=uuid.uuid4(), name="follow-up"))
        if self.calls <= self.fail_times:
            # Fails after writing: the effect and the emitted event roll back with the handled mark.
            raise RuntimeError("simulated commit failure")
        self.done.set()


async def run_consumer(
    nats_url: str,
    schema: Schema,
    handler: Any,
    event_type: str,
    max_deliver: int = 3,
    batch_handler: Any = None,
) -> tuple[NatsBroker, EventConsumer]:
    broker = NatsBroker(nats_url)
    durable = f"test-{uuid.uuid4().hex[:8]}"
    consumer = EventConsumer(
        durable=durable,
        subject=subjects.workspace_filter(event_type),
        processed_events=schema.processed_events,
        outbox=schema.outbox,
        sessions=schema.sessions,
        handler=handler,
        batch_handler=batch_handler,
        max_deliver=max_deliver,
        ack_wait_seconds=5,
    )
    await broker.start()
    await consumer.start(broker.connection)
    return broker, consumer


async def handled(consumer: EventConsumer, at_least: int, within: float = 10) -> int:
    """How many messages the consumer has handled, once that is `at_least` (or `within` seconds passed)."""
    for _ in range(int(within / 0.1)):
        if consumer.handled >= at_least:
            break
        await asyncio.sleep(0.1)
    return consumer.handled


async def effects_count(schema: Schema) -> int:
    async with schema.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(schema.effects)) or 0)


async def outbox_count(schema: Schema) -> int:
    async with schema.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(schema.outbox)) or 0)


async def test_failed_commit_is_redelivered_and_applied_once(
    schema: Schema, nats_url: str, nc: Client
) -> None:
    event_type = f"probe_{uuid.uuid4().hex[:6]}"  # a private subject: other tests' events do not reach it
    handler = Recorder(schema, fail_times=1)
    broker, consumer = await run_consumer(nats_url, schema, handler, event_type)
    try:
        event = CampaignCreated(workspace_id=uuid.uuid4(), campaign_id=uuid.uuid4(), name="x")
        subject = subjects.event_subject(event.workspace_id, event_type)
        js = nc.jetstream()
        await js.publish(subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})
        await asyncio.wait_for(handler.done.wait(), 15)
        # The same event again under another message id (a producer retry outside the duplicate window).
        await js.publish(subject, event.to_bytes(), headers={"Nats-Msg-Id": f"{event.event_id}-again"})
        assert await handled(consumer, 2) == 2
        assert handler.calls == 2  # the failing try and the successful redelivery; the duplicate is a no-op
        assert await effects_count(schema) == 1
        assert await outbox_count(schema) == 1  # the failed try's event rolled back with its effect
        info = await js.consumer_info(subjects.STREAM, consumer.durable)
        assert info.num_ack_pending == 0
    finally:
        await broker.stop()


async def test_poison_message_goes_to_dead_letter(schema: Schema, nats_url: str, nc: Client) -> None:
    event_type = f"poison_{uuid.uuid4().hex[:6]}"
    handler = Recorder(schema, fail_times=10**6)
    broker, consumer = await run_consumer(nats_url, schema, handler, event_type, max_deliver=3)
    js = nc.jetstream()
    dlq = await js.subscribe(subjects.dead_letter_subject(consumer.durable), durable=None)
    try:
        event = CampaignCreated(workspace_id=uuid.uuid4(), campaign_id=uuid.uuid4(), name="poison")
        subject = subjects.event_subject(event.workspace_id, event_type)
        await js.publish(subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})
        dead = await dlq.next_msg(timeout=20)
        assert dead.data == event.to_bytes()
        assert dead.headers is not None
        assert dead.headers["Leadflow-Original-Subject"] == subject
        assert "simulated commit failure" in dead.headers["Leadflow-Error"]
        assert dead.headers["Leadflow-Deliveries"] == "3"
        assert handler.calls == 3
        assert await effects_count(schema) == 0

        # A payload that is not an event at all is dead-lettered at once, without calling the handler.
        await js.publish(subject, b'{"not": "an event"}', headers={"Nats-Msg-Id": str(uuid.uuid4())})
        garbage = await dlq.next_msg(timeout=10)
        assert garbage.data == b'{"not": "an event"}'
        assert garbage.headers is not None and "undecodable" in garbage.headers["Leadflow-Error"]
        assert handler.calls == 3
        await asyncio.sleep(0.3)
        info = await js.consumer_info(subjects.STREAM, consumer.durable)
        assert info.num_ack_pending == 0 and info.num_pending == 0
    finally:
        await dlq.unsubscribe()
        await broker.stop()


class BatchRecorder:
    """A batch handler writing one effect per event, that fails the first batch holding `flaky`; and the
    single-event handler the consumer falls back to."""

    def __init__(self, schema: Schema, flaky: uuid.UUID) -> None:
        self.schema = schema
        self.flaky = flaky
        self.failed = False
        self.batches: list[int] = []
        self.singles = 0

    async def batch(self, uow: UnitOfWork, events: Sequence[Event]) -> None:
        self.batches.append(len(events))
        for event in events:
            await uow.session.execute(
                self.schema.effects.insert().values(event_id=event.event_id, note="batch")
            )
            if event.event_id == self.flaky and not self.failed:
                self.failed = True
                raise RuntimeError("simulated failure in a batch")

    async def single(self, uow: UnitOfWork, event: Event) -> None:
        self.singles += 1
        await uow.session.execute(self.schema.effects.insert().values(event_id=event.event_id, note="single"))


async def test_a_batch_is_one_transaction_and_a_failure_falls_back_to_one_by_one(
    schema: Schema, nats_url: str, nc: Client
) -> None:
    event_type = f"batch_{uuid.uuid4().hex[:6]}"
    js = nc.jetstream()
    workspace_id = uuid.uuid4()
    subject = subjects.event_subject(workspace_id, event_type)
    events = [
        CampaignCreated(workspace_id=workspace_id, campaign_id=uuid.uuid4(), name=f"c{i}") for i in range(20)
    ]
    recorder = BatchRecorder(schema, flaky=events[7].event_id)
    # Waiting before the consumer starts, so its first pull takes them as one batch; one event twice.
    for event in events:
        await js.publish(subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})
    await js.publish(subject, events[3].to_bytes(), headers={"Nats-Msg-Id": f"{events[3].event_id}-again"})
    broker, consumer = await run_consumer(
        nats_url, schema, recorder.single, event_type, batch_handler=recorder.batch
    )
    try:
        assert await handled(consumer, 21) == 21
        # The batch holding the flaky event failed as a whole (its effects rolled back), then each of its
        # events went alone; every event's effect is there exactly once.
        assert recorder.failed and max(recorder.batches) > 1
        async with schema.sessions() as session:
            effects = (await session.execute(select(schema.effects.c.event_id, schema.effects.c.note))).all()
        assert sorted(str(e.event_id) for e in effects) == sorted(str(e.event_id) for e in events)
        note_of = {e.event_id: e.note for e in effects}
        assert note_of[events[7].event_id] == "single" and recorder.singles >= 2

        info = await js.consumer_info(subjects.STREAM, consumer.durable)
        assert info.num_ack_pending == 0 and info.num_pending == 0
    finally:
        await broker.stop()


async def test_waiting_events_are_handled_in_one_batch_call(
    schema: Schema, nats_url: str, nc: Client
) -> None:
    event_type = f"batchok_{uuid.uuid4().hex[:6]}"
    js = nc.jetstream()
    workspace_id = uuid.uuid4()
    events = [
        CampaignCreated(workspace_id=workspace_id, campaign_id=uuid.uuid4(), name=f"c{i}") for i in range(10)
    ]
    for event in events:
        subject = subjects.event_subject(workspace_id, event_type)
        await js.publish(subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})
    recorder = BatchRecorder(schema, flaky=uuid.uuid4())  # nothing fails
    broker, consumer = await run_consumer(
        nats_url, schema, recorder.single, event_type, batch_handler=recorder.batch
    )
    try:
        assert await handled(consumer, 10) == 10
        # Gathered, not handled one by one (a fetch may leave a straggler for the next one).
        assert sum(recorder.batches) + recorder.singles == 10 and max(recorder.batches) >= 5
        async with schema.sessions() as session:
            effects = (await session.execute(select(schema.effects.c.event_id))).scalars().all()
        assert sorted(map(str, effects)) == sorted(str(e.event_id) for e in events)
    finally:
        await broker.stop()


async def test_an_event_waits_for_a_restarting_database_instead_of_being_dead_lettered(
    nats_url: str, nc: Client, tmp_path: Path
) -> None:
    """PostgreSQL down for longer than every redelivery together would take: the event is applied once
    it is back, on its first delivery, and nothing is dead-lettered."""
    server = EmbeddedPostgres(tmp_path / "pg")
    database_url = await asyncio.to_thread(server.start)
    event_type = f"restart_{uuid.uuid4().hex[:6]}"
    js = nc.jetstream()
    try:
        async for schema in make_schema(database_url):
            handler = Recorder(schema, fail_times=0)
            broker, consumer = await run_consumer(nats_url, schema, handler, event_type, max_deliver=2)
            dlq = await js.subscribe(subjects.dead_letter_subject(consumer.durable), durable=None)
            try:
                await asyncio.to_thread(server.stop)
                event = CampaignCreated(workspace_id=uuid.uuid4(), campaign_id=uuid.uuid4(), name="waits")
                subject = subjects.event_subject(event.workspace_id, event_type)
                await js.publish(subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})
                # Two deliveries with their backoff take well under a second; the database is down for 3.
                await asyncio.sleep(3)
                assert consumer.handled == 0
                await asyncio.to_thread(server.start)
                await asyncio.wait_for(handler.done.wait(), 30)
                assert await handled(consumer, 1) == 1
                assert await effects_count(schema) == 1
                with pytest.raises(nats.errors.TimeoutError):
                    await dlq.next_msg(timeout=1)
                info = await js.consumer_info(subjects.STREAM, consumer.durable)
                assert info.num_ack_pending == 0 and info.num_redelivered == 0
            finally:
                await dlq.unsubscribe()
                await broker.stop()
    finally:
        await asyncio.to_thread(server.stop)
