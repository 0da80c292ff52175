"""Transactional outbox: events are rows committed with the state change; a relay publishes them.

The relay publishes each row with `Nats-Msg-Id = event_id`, so a row published twice (relay crashed after
publishing, before deleting) is dropped by JetStream's duplicate window. It is woken by LISTEN/NOTIFY and
also polls, so a missed notification only delays, never loses, an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from nats.js import JetStreamContext
from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts import Event
from services.runtime.db import outbox_channel, psycopg_conninfo
from services.runtime.listen import Listener


@dataclass(frozen=True)
class PreparedEvent:
    """An event already serialised (a bulk batch built without pydantic models; see the importer)."""

    event_id: UUID
    subject: str
    payload: bytes


async def add_to_outbox(
    session: AsyncSession, outbox: Table, events: Iterable[Event | PreparedEvent]
) -> None:
    rows = [
        {
            "event_id": e.event_id,
            "subject": e.subject,
            "payload": e.payload if isinstance(e, PreparedEvent) else e.to_bytes(),
        }
        for e in events
    ]
    if rows:
        # Deterministic event ids (a resumed import chunk) make a second insert a no-op.
        await session.execute(insert(outbox).on_conflict_do_nothing(index_elements=["event_id"]), rows)


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
    ) -> None:
        self._schema = schema
        self._outbox = outbox
        self._sessions = sessions
        self._js = js
        self._conninfo = psycopg_conninfo(database_url)
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self.published = 0
        # Event ids a producer is publishing itself, right after its commit (see `claim`).
        self.claimed: set[UUID] = set()

    def claim(self, event_ids: Iterable[UUID]) -> None:
        """Leave these committed rows to their producer, which publishes them at once and deletes them;
        `release` hands back any it could not publish. Saves reading large payloads back from the table."""
        self.claimed.update(event_ids)

    def release(self, event_ids: Iterable[UUID]) -> None:
        self.claimed.difference_update(event_ids)

    async def publish_pending(self) -> int:
        """Publish one batch of committed rows and delete them; returns how many were published."""
        t = self._outbox
        async with self._sessions() as session, session.begin():
            query = select(t.c.id, t.c.event_id, t.c.subject, t.c.payload)
            if self.claimed:
                query = query.where(t.c.event_id.not_in(list(self.claimed)))
            rows = (
                await session.execute(
                    query.order_by(t.c.id).limit(self._batch_size).with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            acks = [
                await self._js.publish_async(
                    row.subject, row.payload, headers={"Nats-Msg-Id": str(row.event_id)}
                )
                for row in rows
            ]
            await asyncio.gather(*acks)
            await session.execute(delete(t).where(t.c.id.in_([row.id for row in rows])))
        self.published += len(rows)
        return len(rows)

    async def drain(self) -> int:
        total = 0
        while (n := await self.publish_pending()) > 0:
            total += n
        return total

    async def run(self) -> None:
        """Publish forever; cancel the task to stop. Errors are logged and retried with backoff."""
        await Listener(
            self._conninfo,
            [outbox_channel(self._schema)],
            every=self._poll_seconds,
            what=f"outbox relay {self._schema}",
            on_wake=self.drain,
        ).run()
