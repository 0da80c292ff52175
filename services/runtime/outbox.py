"""Transactional outbox: events are rows committed with the state change; a relay publishes them.

The relay publishes each row with `Nats-Msg-Id = event_id`, so a row published twice (relay crashed after
publishing, before deleting) is dropped by JetStream's duplicate window. It is woken by LISTEN/NOTIFY and
also polls, so a missed notification only delays, never loses, an event.

A producer that has just committed large rows may also hand them to the relay from memory
(`OutboxRelay.eagerly`): they are published at once, without being read back from the table, and the
drain's next pass deletes them (a NOTIFY wakes it anyway, for the producer's next commit); the drain
publishes any that could not be.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import NamedTuple
from uuid import UUID

import structlog
from nats.js import JetStreamContext
from nats.js.api import PubAck
from sqlalchemy import Table, TextClause, all_, any_, delete, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import BigInteger, Uuid

from contracts import Event

from .db import outbox_channel, psycopg_conninfo
from .listen import Listener

log = structlog.get_logger(__name__)

# How long a publish waits without any ack before it gives up. nats-py's `publish_async` futures have no
# timeout of their own: the ack of a message the server took and then lost (killed, say) never comes, and
# a wait for it would never end.
ACK_SECONDS = 5.0


class PreparedEvent(NamedTuple):
    """An event already serialised (a bulk batch built without pydantic models; see the importer)."""

    event_id: UUID
    subject: str
    payload: bytes


# Hands committed rows to the relay to publish at once (see `OutboxRelay.eagerly`).
PublishNow = Callable[[Sequence[PreparedEvent]], "asyncio.Task[None]"]


# Rows of one write, in the order given (the relay publishes by `id`): one statement over three arrays.
_INSERT = """
    INSERT INTO {table} (event_id, subject, payload)
    SELECT e.event_id, e.subject, e.payload
    FROM unnest(CAST(:event_ids AS uuid[]), CAST(:subjects AS text[]), CAST(:payloads AS bytea[]))
        WITH ORDINALITY AS e(event_id, subject, payload, n)
    ORDER BY e.n
    ON CONFLICT (event_id) DO NOTHING
"""


@functools.cache
def _insert(table: str) -> TextClause:
    return text(_INSERT.format(table=table))


async def add_to_outbox(
    session: AsyncSession, outbox: Table, events: Iterable[Event | PreparedEvent]
) -> None:
    """The events as outbox rows, in order. One statement with an array per column, however many: executed
    once per row, the driver converted and sent each row on its own, and PostgreSQL ran one statement per
    event. Deterministic event ids (a resumed import chunk) make a second insert a no-op."""
    event_ids: list[UUID] = []
    subjects: list[str] = []
    payloads: list[bytes] = []
    for e in events:
        event_ids.append(e.event_id)
        subjects.append(e.subject)
        payloads.append(e.payload if isinstance(e, PreparedEvent) else e.to_bytes())
    if event_ids:
        await session.execute(
            _insert(outbox.fullname),
            {"event_ids": event_ids, "subjects": subjects, "payloads": payloads},
        )


class OutboxRelay:
    def __init__(
        self,
        *,
        schema: str,
        outbox: Table,
        sessions: async_sessionmaker[AsyncSession],
        js: JetStreamContext,
        database_url: str,
        batch_size: int = 500,
        poll_seconds: float = 2.0,
        ack_seconds: float = ACK_SECONDS,
    ) -> None:
        self._schema = schema
        self._outbox = outbox
        self._sessions = sessions
        self._js = js
        self._conninfo = psycopg_conninfo(database_url)
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._ack_seconds = ack_seconds
        self.published = 0
        # Event ids being published from memory (see `eagerly`): the drain leaves their rows alone.
        self.claimed: set[UUID] = set()
        # Of those, the ones JetStream acked: the drain's next pass deletes their rows.
        self._acked: set[UUID] = set()
        self._eager: set[asyncio.Task[None]] = set()

    def claim(self, event_ids: Iterable[UUID]) -> None:
        """Leave these rows alone until `release`d (`eagerly` claims and releases for its producer)."""
        self.claimed.update(event_ids)

    def release(self, event_ids: Iterable[UUID]) -> None:
        self.claimed.difference_update(event_ids)

    @contextlib.contextmanager
    def eagerly(self, event_ids: Collection[UUID]) -> Iterator[PublishNow]:
        """Around the transaction that commits the outbox rows `event_ids`: the drain, woken by that commit,
        leaves them alone; once committed, `publish_now(events)` publishes them from memory in a task of the
        relay, and the drain's next pass deletes the rows of those acked. Rows not handed over by the end of
        the block (a rollback, a cancel), or whose publishing fails, go back to the drain. Saves reading
        large payloads back from the table.

        The returned task ends within about `ack_seconds` of the last ack and never raises: a producer may
        wait for it to commit what must follow these events (the drain publishes rows in commit order)."""
        self.claim(event_ids)
        handed: set[UUID] = set()

        def publish_now(events: Sequence[PreparedEvent]) -> asyncio.Task[None]:
            handed.update(event.event_id for event in events)
            task = asyncio.create_task(self._publish_committed(events))
            self._eager.add(task)
            task.add_done_callback(self._eager.discard)
            return task

        try:
            yield publish_now
        finally:
            self.release(set(event_ids) - handed)

    async def _publish_committed(self, events: Sequence[PreparedEvent]) -> None:
        ids = [event.event_id for event in events]
        try:
            await self.publish(events)
        except Exception as exc:
            # The rows are still there: the drain publishes them, and JetStream drops any repeat.
            log.warning("publishing committed events at once failed; the relay's drain will", error=repr(exc))
            self.release(ids)
            return
        self.published += len(ids)
        self._acked.update(ids)

    async def publish(self, events: Sequence[PreparedEvent]) -> None:
        """Publish `events` and wait for JetStream to ack every one. Raises the first error, or TimeoutError
        when `ack_seconds` pass without any ack (the connection went away with them in flight)."""
        acks: list[asyncio.Future[PubAck]] = []
        try:
            for event in events:
                acks.append(
                    await self._js.publish_async(
                        event.subject, event.payload, headers={"Nats-Msg-Id": str(event.event_id)}
                    )
                )
            pending: set[asyncio.Future[PubAck]] = set(acks)
            while pending:
                done, pending = await asyncio.wait(pending, timeout=self._ack_seconds)
                if not done:
                    raise TimeoutError(
                        f"no ack from JetStream for {self._ack_seconds:g} s, {len(pending)} outstanding"
                    )
                for ack in done:
                    ack.result()
        finally:
            # A future given up on also frees its slot among nats-py's pending publishes.
            for ack in acks:
                ack.cancel()

    async def publish_pending(self) -> int:
        """Publish one batch of committed rows and delete them, with the rows published from memory since
        the last pass; returns how many were published."""
        t = self._outbox
        acked = list(self._acked)
        async with self._sessions() as session, session.begin():
            if acked:
                await session.execute(delete(t).where(t.c.event_id == any_(literal(acked, ARRAY(Uuid)))))
            query = select(t.c.id, t.c.event_id, t.c.subject, t.c.payload)
            if self.claimed:
                query = query.where(t.c.event_id != all_(literal(list(self.claimed), ARRAY(Uuid))))
            rows = (
                await session.execute(
                    query.order_by(t.c.id).limit(self._batch_size).with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                await self.publish([PreparedEvent(row.event_id, row.subject, row.payload) for row in rows])
                await session.execute(
                    delete(t).where(t.c.id == any_(literal([row.id for row in rows], ARRAY(BigInteger))))
                )
        self._acked.difference_update(acked)
        self.release(acked)
        self.published += len(rows)
        return len(rows)

    async def drain(self) -> int:
        total = 0
        while (n := await self.publish_pending()) > 0:
            total += n
        return total

    async def run(self) -> None:
        """Publish forever; cancel the task to stop. Errors are logged and retried with backoff."""
        try:
            await Listener(
                self._conninfo,
                [outbox_channel(self._schema)],
                every=self._poll_seconds,
                what=f"outbox relay {self._schema}",
                on_wake=self.drain,
            ).run()
        finally:
            for task in list(self._eager):
                task.cancel()
            await asyncio.gather(*self._eager, return_exceptions=True)
