"""The leased-work primitive against a real PostgreSQL: leases, tokens, not-before times, per-key limits,
holding while unhealthy and waking on NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Interval,
    MetaData,
    Table,
    Text,
    Uuid,
    bindparam,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.backoff import Backoff
from services.runtime.db import psycopg_conninfo
from services.runtime.leased_work import LeasedWorker
from services.runtime.leases import Claim, LeasedRows
from services.runtime.unit_of_work import UnitOfWork, unit_of_work
from tests.integration.runtime_fixtures import Schema, make_schema

pytestmark = pytest.mark.infra

LEASE = timedelta(minutes=5)


@dataclass
class Queue:
    """A mailer-like send queue: rows keyed by mailbox, due at `not_before`, leased by uuid token."""

    schema: Schema
    table: Table
    rows: LeasedRows
    database_url: str

    async def add(self, *mailboxes: str, due_in: float = 0.0) -> list[uuid.UUID]:
        ids = [uuid.uuid4() for _ in mailboxes]
        async with self.schema.sessions() as session, session.begin():
            await session.execute(
                self.table.insert().values(not_before=func.now() + bindparam("due_in", type_=Interval)),
                [
                    {"id": i, "mailbox": m, "due_in": timedelta(seconds=due_in)}
                    for i, m in zip(ids, mailboxes, strict=True)
                ],
            )
        return ids

    async def claim(self, limit: int, *, per_key: int | None = None, lease: timedelta = LEASE) -> list[Claim]:
        async with self.schema.sessions() as session, session.begin():
            return await self.rows.claim(session, limit, lease, per_key=per_key)

    async def states(self) -> dict[uuid.UUID, str]:
        async with self.schema.sessions() as session:
            rows = await session.execute(select(self.table.c.id, self.table.c.state))
            return {row.id: row.state for row in rows}

    async def leased(self) -> int:
        async with self.schema.sessions() as session:
            return int(
                await session.scalar(select(func.count()).where(self.table.c.leased_until > func.now())) or 0
            )

    def units(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        return unit_of_work(
            self.schema.sessions, outbox=self.schema.outbox, processed_events=self.schema.processed_events
        )


@pytest.fixture
async def queue(migrated_database_url: str) -> AsyncIterator[Queue]:
    async for schema in make_schema(migrated_database_url):
        table = Table(
            "sends",
            MetaData(schema=schema.name),
            Column("id", Uuid, primary_key=True),
            Column("mailbox", Text, nullable=False),
            Column("state", Text, nullable=False, server_default="queued"),
            Column("not_before", DateTime(timezone=True), nullable=False, server_default=func.now()),
            Column("leased_until", DateTime(timezone=True)),
            Column("token", Uuid),
        )
        async with schema.engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
        rows = LeasedRows(
            table,
            id=table.c.id,
            leased_until=table.c.leased_until,
            not_before=table.c.not_before,
            token=table.c.token,
            key=table.c.mailbox,
            claimable=table.c.state == "queued",
        )
        yield Queue(schema, table, rows, migrated_database_url)


@dataclass
class Sends:
    """The work: 'sending' is noting the row; recording marks it sent. `fail` makes perform raise."""

    queue: Queue
    limit: int = 10
    per_key: int | None = None
    fail: bool = False
    performed: list[uuid.UUID] = field(default_factory=list)

    async def claim(self, session: AsyncSession, lease: timedelta) -> Sequence[Claim]:
        return await self.queue.rows.claim(session, self.limit, lease, per_key=self.per_key)

    async def perform(self, claimed: Sequence[Claim]) -> Sequence[str]:
        if self.fail:
            raise RuntimeError("the peer went away")
        self.performed.extend(c.row_id for c in claimed)
        return ["sent"] * len(claimed)

    async def record(self, uow: UnitOfWork, results: Sequence[tuple[Claim, str]]) -> None:
        table = self.queue.table
        for claim, state in results:
            await uow.session.execute(table.update().where(table.c.id == claim.row_id).values(state=state))


def worker(
    queue: Queue, sends: Sends, *, healthy: Callable[[], bool] = lambda: True, **options: object
) -> LeasedWorker[Claim, str]:
    return LeasedWorker(
        sends,
        queue.rows,
        name="sends",
        sessions=queue.schema.sessions,
        units=queue.units,
        lease=LEASE,
        healthy=healthy,
        backoff=Backoff(first=0.05, most=0.2),
        **options,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def running(w: LeasedWorker[Claim, str]) -> AsyncIterator[None]:
    task = asyncio.create_task(w.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.02)


async def test_two_claims_at_once_never_share_a_row(queue: Queue) -> None:
    ids = await queue.add(*["a@x"] * 60)
    claims = await asyncio.gather(*(queue.claim(25) for _ in range(4)))
    taken = [c.row_id for claim in claims for c in claim]
    assert len(taken) == len(set(taken)) == 60
    assert set(taken) == set(ids)


async def test_workers_running_together_send_every_row_once(queue: Queue) -> None:
    ids = await queue.add(*[f"{n % 7}@x" for n in range(300)])
    sends = Sends(queue, limit=13)
    async with running(worker(queue, sends, every=0.05, workers=4)):

        async def all_sent() -> bool:
            return set((await queue.states()).values()) == {"sent"}

        await eventually(all_sent)
    assert sorted(sends.performed) == sorted(ids)


async def test_a_claim_whose_lease_ran_out_records_nothing(queue: Queue) -> None:
    ids = await queue.add("a@x", "b@x")
    sends = Sends(queue)
    w = worker(queue, sends, every=1.0)
    first = await queue.claim(10, lease=timedelta(milliseconds=50))
    assert await queue.claim(10) == []  # leased: nobody else gets them
    await asyncio.sleep(0.1)
    second = await queue.claim(10)  # the lease ran out: another worker takes them over
    assert {c.row_id for c in second} == set(ids)
    assert {c.token for c in second}.isdisjoint({c.token for c in first})

    assert await w.record(first, ["late"] * len(first)) == 0
    assert await w.release(first) == 0
    assert set((await queue.states()).values()) == {"queued"}
    assert await queue.leased() == 2  # still the second claim's

    assert await w.record(second, ["sent"] * len(second)) == 2
    assert set((await queue.states()).values()) == {"sent"}
    assert await queue.leased() == 0


@pytest.mark.parametrize(
    ("due_in", "claimed"),
    [(-60.0, True), (0.0, True), (30.0, False), (3600.0, False)],
)
async def test_a_row_is_claimed_only_once_its_not_before_time_came(
    queue: Queue, due_in: float, claimed: bool
) -> None:
    (row,) = await queue.add("a@x", due_in=due_in)
    assert [c.row_id for c in await queue.claim(10)] == ([row] if claimed else [])


async def test_a_retried_row_waits_out_its_delay(queue: Queue) -> None:
    await queue.add("a@x")
    first = await queue.claim(10)
    async with queue.schema.sessions() as session, session.begin():
        assert await queue.rows.retry_later(session, first, timedelta(milliseconds=300)) == 1
    assert await queue.claim(10) == []
    await asyncio.sleep(0.35)
    assert [c.row_id for c in await queue.claim(10)] == [first[0].row_id]


@pytest.mark.parametrize(
    ("per_key", "mailboxes", "claimed"),
    [
        (1, {"a": 3, "b": 2}, {"a": 1, "b": 1}),
        (2, {"a": 5, "b": 1}, {"a": 2, "b": 1}),
        (3, {"a": 2}, {"a": 2}),
        (2, {"a": 4, "b": 4, "c": 4}, {"a": 2, "b": 2, "c": 2}),
    ],
)
async def test_a_claim_keeps_to_the_per_key_limit(
    queue: Queue, per_key: int, mailboxes: dict[str, int], claimed: dict[str, int]
) -> None:
    for mailbox, n in mailboxes.items():
        await queue.add(*[mailbox] * n)
    first = await queue.claim(100, per_key=per_key)
    assert Counter(c.row.mailbox for c in first) == claimed
    assert await queue.claim(100, per_key=per_key) == []  # every key is at its limit

    # One row of a key with more waiting is done: that key has room for exactly one more.
    full = next((c for c in first if mailboxes[c.row.mailbox] > per_key), None)
    if full is None:
        return
    async with queue.schema.sessions() as session, session.begin():
        await session.execute(queue.table.delete().where(queue.table.c.id == full.row_id))
    more = await queue.claim(100, per_key=per_key)
    assert Counter(c.row.mailbox for c in more) == {full.row.mailbox: 1}


async def test_concurrent_claims_keep_to_the_per_key_limit_together(queue: Queue) -> None:
    await queue.add(*["a"] * 20, *["b"] * 20, *["c"] * 3)
    claims = await asyncio.gather(*(queue.claim(50, per_key=3) for _ in range(6)))
    per_mailbox = Counter(c.row.mailbox for claim in claims for c in claim)
    assert all(n <= 3 for n in per_mailbox.values()), per_mailbox
    async with queue.schema.sessions() as session:
        table = queue.table
        leased = await session.execute(
            select(table.c.mailbox, func.count())
            .where(table.c.leased_until > func.now())
            .group_by(table.c.mailbox)
        )
        assert all(n <= 3 for _, n in leased)


async def test_a_lapsed_lease_frees_its_keys_room(queue: Queue) -> None:
    await queue.add("a", "a")
    assert len(await queue.claim(10, per_key=1, lease=timedelta(milliseconds=50))) == 1
    assert await queue.claim(10, per_key=1) == []
    await asyncio.sleep(0.1)
    assert len(await queue.claim(10, per_key=1)) == 1


async def test_no_claims_while_unhealthy(queue: Queue) -> None:
    await queue.add("a@x", "b@x")
    health = {"ok": False}
    sends = Sends(queue)
    w = worker(queue, sends, every=1.0, healthy=lambda: health["ok"])
    assert await w.run_once() == 0
    assert await queue.leased() == 0 and sends.performed == []
    health["ok"] = True
    assert await w.run_once() == 2
    assert set((await queue.states()).values()) == {"sent"}


async def test_a_failed_batch_is_handed_back_due_at_once(queue: Queue) -> None:
    ids = await queue.add("a@x", "b@x")
    sends = Sends(queue, fail=True)
    w = worker(queue, sends, every=1.0)
    with pytest.raises(RuntimeError):
        await w.run_once()
    assert await queue.leased() == 0
    assert {c.row_id for c in await queue.claim(10)} == set(ids)


async def test_a_notify_wakes_the_loop_before_its_timer(queue: Queue) -> None:
    channel = f"sends_{uuid.uuid4().hex[:8]}"
    conninfo = psycopg_conninfo(queue.database_url)
    sends = Sends(queue)
    w = worker(queue, sends, every=60.0, conninfo=conninfo, channels=[channel])
    async with running(w):
        await asyncio.sleep(0.5)  # the first pass found nothing: now it waits for a minute
        (row,) = await queue.add("a@x")
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await conn.execute("SELECT pg_notify(%s, '')", (channel,))
        started = time.monotonic()

        async def sent() -> bool:
            return (await queue.states())[row] == "sent"

        await eventually(sent, within=10.0)
    assert time.monotonic() - started < 10.0


async def test_a_wake_starts_a_pass_before_the_timer(queue: Queue) -> None:
    sends = Sends(queue)
    w = worker(queue, sends, every=60.0)
    async with running(w):
        await asyncio.sleep(0.3)
        (row,) = await queue.add("a@x")
        w.wake()

        async def sent() -> bool:
            return (await queue.states())[row] == "sent"

        await eventually(sent, within=5.0)


async def test_a_failing_pass_is_retried_after_a_pause(queue: Queue) -> None:
    (row,) = await queue.add("a@x")
    sends = Sends(queue, fail=True)
    async with running(worker(queue, sends, every=60.0)):
        await asyncio.sleep(0.3)
        assert await queue.leased() == 0  # each failed batch went back at once
        sends.fail = False

        async def sent() -> bool:
            return (await queue.states())[row] == "sent"

        await eventually(sent, within=5.0)
