"""One transaction of a service: its state, the events it emits and the events it has handled.

A handler or a worker never commits piecemeal. It opens a `UnitOfWork`, changes its tables through its
repository (`Repository.from_session(uow.session)`), hands the events its decision produced to `emit`,
and, when it handles events from the bus, asks `first_time` which of them it has not handled yet (that
also marks them). Everything commits together when the block ends, or nothing does: an event is never
published for a change that rolled back, a change is never kept without its event, and a redelivered
event is never applied twice.

    async with service.unit_of_work() as uow:
        repo = CampaignRepository.from_session(uow.session)
        outcome = decide(await repo.get(campaign_id), command, now)
        await repo.save(outcome.state)
        uow.emit(*outcome.events)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from uuid import UUID

from sqlalchemy import Table, Uuid, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts import Event

from .outbox import PreparedEvent, add_to_outbox


class UnitOfWork:
    """The open transaction (`session`) and what is to be committed with it (see the module)."""

    def __init__(self, session: AsyncSession, *, outbox: Table, processed_events: Table) -> None:
        self.session = session
        self._outbox = outbox
        self._processed = processed_events
        self._events: list[Event | PreparedEvent] = []
        self._handled: dict[str, list[UUID]] = {}

    def emit(self, *events: Event | PreparedEvent) -> None:
        """Publish these once the transaction commits (outbox rows, written at the end of the block)."""
        self._events.extend(events)

    def emit_all(self, events: Iterable[Event | PreparedEvent]) -> None:
        self._events.extend(events)

    @property
    def emitted(self) -> Sequence[Event | PreparedEvent]:
        return tuple(self._events)

    async def first_time(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        """Mark these events handled by `consumer` and return those that were not already: a redelivered
        event is left out, and applying it is skipped. One statement, whatever the number of ids."""
        if not event_ids:
            return set()
        ids = list(dict.fromkeys(event_ids))
        return set(
            await self.session.scalars(
                insert(self._processed)
                # One array parameter (a statement compiled once), not a VALUES row per event.
                .from_select(
                    ["consumer", "event_id"],
                    select(literal(consumer), func.unnest(literal(ids, ARRAY(Uuid)))),
                )
                .on_conflict_do_nothing()
                .returning(self._processed.c.event_id)
            )
        )

    def handled_here(self, consumer: str, event_ids: Iterable[UUID]) -> None:
        """These events (emitted here) are already applied for `consumer`, which is to skip them when
        they come back from the bus: marked at commit, with the events themselves."""
        self._handled.setdefault(consumer, []).extend(event_ids)

    async def flush(self) -> None:
        """Write the pending outbox rows and handled marks (also done when the block ends)."""
        events, self._events = self._events, []
        await add_to_outbox(self.session, self._outbox, events)
        handled, self._handled = self._handled, {}
        for consumer, ids in handled.items():
            if ids:
                await self.session.execute(
                    insert(self._processed)
                    .from_select(
                        ["consumer", "event_id"],
                        select(literal(consumer), func.unnest(literal(ids, ARRAY(Uuid)))),
                    )
                    .on_conflict_do_nothing()
                )


@contextlib.asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker[AsyncSession], *, outbox: Table, processed_events: Table
) -> AsyncIterator[UnitOfWork]:
    """A `UnitOfWork` in a new transaction, committed when the block ends, rolled back if it raises."""
    async with sessions() as session, session.begin():
        uow = UnitOfWork(session, outbox=outbox, processed_events=processed_events)
        yield uow
        await uow.flush()
