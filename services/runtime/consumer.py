"""Idempotent durable JetStream consumers with a dead-letter subject.

A consumer fetches up to `BATCH_SIZE` messages at a time and handles them in as few database transactions
as `BATCH_BYTES` allows (one, for a fetch of small events), together with their `processed_events`
inserts, and acks them only after that transaction commits: one commit per batch, not per event, is what
lets a projection keep up with a validator's thousand events a second. An event whose id is already
recorded (a redelivery) is skipped without running the handler. When a handler raises, the batch's
transaction rolls back and its events are handled again one at a time, each in its own transaction: the
one that fails is nacked with backoff and retried, the others are applied. After `max_deliver`
deliveries, or at once when the payload is not a valid event, a message is copied to
`leadflow-dlq.<durable>` with the error and acked, so one poison message never blocks its consumer. A
database that cannot be reached (restarting) is not the event's fault: the event waits for it, kept in
progress, and spends no delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats.errors
import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, DeliverPolicy, NatsBroker, PullSub
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts import AnyEvent, parse_event, subjects

from .db import retry_while_unreachable
from .streams import events_jstream
from .unit_of_work import UnitOfWork, unit_of_work

log = structlog.get_logger(__name__)

# A handler gets the unit of work its event is handled in (state, emitted events and the handled mark
# commit together) and the event.
Handler = Callable[[UnitOfWork, Any], Awaitable[None]]
# Handles several events in one call, in delivery order (a projection can then apply them set-based).
BatchHandler = Callable[[UnitOfWork, Sequence[Any]], Awaitable[None]]

# Messages fetched at once and handled together, in transactions of at most BATCH_BYTES of payload (but
# for one larger message): a fetch of a hundred verdicts is one transaction, a fetch of LeadImported
# chunks (a thousand leads, ~300 kB each) one transaction per chunk.
BATCH_SIZE = 100
BATCH_BYTES = 256 * 1024
# The transactions of one fetch run at most this many at once.
CONCURRENT_TRANSACTIONS = 4
# How long an idle fetch waits for messages.
FETCH_TIMEOUT_SECONDS = 2.0
# How long one event waits for an unreachable database (restarting) before its delivery counts as failed.
UNREACHABLE_WAIT_SECONDS = 120.0
# A fetch that failed (the connection reconnecting, the server restarting) is tried again after a pause
# that doubles from this, up to FETCH_RETRY_MOST.
FETCH_RETRY_FIRST = 0.2
FETCH_RETRY_MOST = 5.0


def redelivery_delay(delivered: int) -> float:
    return float(min(0.2 * 2 ** (delivered - 1), 30.0))


async def dead_letter(js: JetStreamContext, durable: str, raw: Msg, error: str) -> None:
    headers = {
        "Leadflow-Original-Subject": raw.subject,
        "Leadflow-Error": error[:2000],
        "Leadflow-Deliveries": str(raw.metadata.num_delivered),
    }
    msg_id = (raw.headers or {}).get("Nats-Msg-Id")
    if msg_id:
        # The same poison message dead-lettered twice (crash before ack) is stored once.
        headers["Nats-Msg-Id"] = f"{durable}:{msg_id}"
    await js.publish(subjects.dead_letter_subject(durable), raw.data, headers=headers)


def _transactions(decoded: list[tuple[Msg, AnyEvent]]) -> list[list[tuple[Msg, AnyEvent]]]:
    """The fetched messages cut, in order, into groups of at most BATCH_BYTES of payload (a larger message
    is a group of its own): one transaction each."""
    groups: list[list[tuple[Msg, AnyEvent]]] = []
    size = BATCH_BYTES
    for item in decoded:
        length = len(item[0].data)
        if size + length > BATCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += length
    return groups


class EventConsumer:
    """One durable pull consumer that feeds `handler` exactly once per event of `subject` (and of the
    `also` subjects): `start(nc)` creates (or binds) the durable and runs its fetch loop, `stop()` ends it.

    With `batch_handler`, a batch's first-time events go to it in one call (in delivery order); `handler`
    still handles them one at a time when a batch has to be retried event by event.

    The loop fetches with nats-py itself rather than through a FastStream subscriber: FastStream handles
    each fetched message on its own (a task, its middlewares, a context scope and dependency injection per
    message), which cost a busy consumer — the mailer's StepDue — more than the handling did, only for
    this class to gather the messages into a batch again. `document(broker)` still describes the consumer
    to FastStream, for the AsyncAPI document.
    """

    def __init__(
        self,
        *,
        durable: str,
        subject: str,
        processed_events: Table,
        outbox: Table,
        sessions: async_sessionmaker[AsyncSession],
        handler: Handler,
        max_deliver: int,
        ack_wait_seconds: float,
        description: str = "",
        batch_handler: BatchHandler | None = None,
        batch_size: int = BATCH_SIZE,
        also: Sequence[str] = (),
        deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
        inbox_prefix: str = "_INBOX",
    ) -> None:
        self.durable = durable
        self.handled = 0
        self._processed = processed_events
        self._outbox = outbox
        self._sessions = sessions
        self._handler = handler
        self._batch_handler = batch_handler
        self._max_deliver = max_deliver
        self._batch_size = batch_size
        # Fetched messages arrive on the connection's own inboxes: nats-py would use `_INBOX.`, which a
        # service's NATS user may not subscribe to (bus_users.py).
        self._inbox_prefix = f"{inbox_prefix}.".encode()
        # JetStream's own limit is set above ours: we decide when a message is dead, not the server.
        # `deliver_policy` applies when the durable is created; an existing one keeps its position.
        self._config = ConsumerConfig(
            ack_wait=ack_wait_seconds, max_deliver=max_deliver + 2, deliver_policy=deliver_policy
        )
        subjects = [subject, *also]
        self.filters: tuple[str, ...] = tuple(subjects)
        self._subject = subject
        if also:
            # Several subjects: a consumer filters on `filter_subjects` (and then on no single subject).
            self._config.filter_subjects = subjects
            self._subject = ""
        self.description = description or f"durable consumer {durable} of {', '.join(subjects)}"
        self._js: JetStreamContext | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None

    def document(self, broker: NatsBroker) -> None:
        """Describe the consumer as a FastStream subscriber, for the AsyncAPI document (never started)."""

        async def consumes(body: Any) -> None:
            raise AssertionError("a documented consumer is never started")  # pragma: no cover

        broker.subscriber(
            self._subject,
            stream=events_jstream(),
            durable=self.durable,
            pull_sub=PullSub(batch_size=self._batch_size, timeout=FETCH_TIMEOUT_SECONDS),
            ack_policy=AckPolicy.MANUAL,
            config=self._config,
            title=self.durable,
            description=self.description,
        )(consumes)

    async def start(self, nc: Client) -> None:
        """Create the durable (or bind to it) and start fetching; returns once the subscription exists."""
        js = self._js = nc.jetstream()
        self._subscription = await js.pull_subscribe(
            self._subject,
            durable=self.durable,
            stream=subjects.STREAM,
            config=self._config,
            inbox_prefix=self._inbox_prefix,
        )
        self._task = asyncio.create_task(self._fetch_forever(nc), name=f"consumer-{self.durable}")
        log.debug("consuming", durable=self.durable, filters=list(self.filters))

    async def stop(self) -> None:
        """Stop fetching; a batch being handled is cancelled with it (unacked, it is delivered again)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _fetch_forever(self, nc: Client) -> None:
        subscription = self._subscription
        assert subscription is not None
        failures = 0
        while not nc.is_closed:
            try:
                # Returns what is waiting at once (up to the batch), else waits for the first message.
                fetched = await subscription.fetch(self._batch_size, timeout=FETCH_TIMEOUT_SECONDS)
            except TimeoutError:
                continue
            except nats.errors.ConnectionClosedError:
                return
            except Exception as exc:  # reconnecting, the server restarting: fetch again after a pause
                failures += 1
                log.warning("fetch failed; fetching again", durable=self.durable, error=repr(exc))
                await asyncio.sleep(min(FETCH_RETRY_FIRST * 2 ** min(failures - 1, 10), FETCH_RETRY_MOST))
                continue
            failures = 0
            try:
                await self.handle_messages(fetched)
            except Exception as exc:
                # What was not acked is delivered again once its ack wait is over.
                log.error("a fetched batch failed", durable=self.durable, error=repr(exc))

    async def handle_messages(self, fetched: Sequence[Msg]) -> None:
        """Decode a fetch's messages (dead-lettering what is not an event) and handle the events."""
        decoded: list[tuple[Msg, AnyEvent]] = []
        for raw in fetched:
            try:
                decoded.append((raw, parse_event(raw.data)))
            except ValidationError as exc:
                log.error("undecodable event dead-lettered", durable=self.durable, subject=raw.subject)
                await self._dead_letter(raw, f"undecodable event: {exc}")
                await raw.ack()
        if decoded:
            await self.handle_batch(decoded)

    def _unit_of_work(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        return unit_of_work(self._sessions, outbox=self._outbox, processed_events=self._processed)

    async def _dead_letter(self, raw: Msg, error: str) -> None:
        assert self._js is not None, "a consumer dead-letters only once started"
        await dead_letter(self._js, self.durable, raw, error)

    async def handle_batch(self, decoded: list[tuple[Msg, AnyEvent]]) -> None:
        """Handle (and ack, nack or dead-letter) the messages of one fetch."""
        groups = _transactions(decoded)
        if len(groups) == 1:
            await self._process_group(groups[0])
            return
        # Several large messages (import chunks): a few transactions at once, as PostgreSQL and this
        # process's Python work then overlap. Their order does not matter to a handler that must take
        # events out of order anyway (events of different subjects are not ordered).
        limit = asyncio.Semaphore(CONCURRENT_TRANSACTIONS)

        async def bounded(group: list[tuple[Msg, AnyEvent]]) -> None:
            async with limit:
                await self._process_group(group)

        await asyncio.gather(*(bounded(group) for group in groups))

    async def _process_group(self, group: list[tuple[Msg, AnyEvent]]) -> None:
        if len(group) > 1 and await self._process_together(group):
            return
        await self._process_one_by_one(group)

    async def _process_one_by_one(self, decoded: list[tuple[Msg, AnyEvent]]) -> None:
        for raw, event in decoded:
            lead_id = getattr(event, "lead_id", None)
            # Bound for the whole handling, so whatever the handler logs carries the message's ids too.
            with structlog.contextvars.bound_contextvars(
                durable=self.durable,
                event_id=str(event.event_id),
                event_type=event.event_type,
                workspace_id=str(event.workspace_id),
                lead_id=str(lead_id) if lead_id else None,
            ):
                await self._process(raw, event)

    async def _process_together(self, decoded: list[tuple[Msg, AnyEvent]]) -> bool:
        """The whole batch in one transaction; False (and nothing committed) if any handler raised."""
        try:
            async with self._unit_of_work() as uow:
                first_time = await uow.first_time(self.durable, [event.event_id for _, event in decoded])
                fresh: list[AnyEvent] = []
                for _, event in decoded:  # in delivery order, each event once
                    if event.event_id in first_time:
                        first_time.discard(event.event_id)
                        fresh.append(event)
                with structlog.contextvars.bound_contextvars(durable=self.durable, batch=len(decoded)):
                    if self._batch_handler is not None:
                        await self._batch_handler(uow, fresh)
                    else:
                        for event in fresh:
                            await self._handler(uow, event)
        except Exception as exc:
            log.info("batch failed; handling its events one by one", durable=self.durable, error=repr(exc))
            return False
        for raw, _ in decoded:
            await raw.ack()
        self.handled += len(decoded)
        log.debug("batch handled", durable=self.durable, events=len(decoded), applied=len(fresh))
        return True

    async def _process(self, raw: Msg, event: AnyEvent) -> None:
        delivered = raw.metadata.num_delivered

        async def handle() -> bool:
            async with self._unit_of_work() as uow:
                first_time = bool(await uow.first_time(self.durable, [event.event_id]))
                if first_time:
                    await self._handler(uow, event)
            return first_time

        async def still_working() -> None:
            with contextlib.suppress(Exception):
                await raw.in_progress()

        try:
            # A database that went away (a restart) is waited for here, the message kept in progress:
            # redelivering it would spend its deliveries and dead-letter a perfectly good event.
            applied = await retry_while_unreachable(
                handle,
                what=f"consumer {self.durable}",
                within=UNREACHABLE_WAIT_SECONDS,
                waiting=still_working,
            )
        except Exception as exc:
            if delivered >= self._max_deliver:
                log.error("handler failed, dead-lettered", deliveries=delivered, error=repr(exc))
                await self._dead_letter(raw, repr(exc))
                await raw.ack()
            else:
                log.warning("handler failed, will retry", deliveries=delivered, error=repr(exc))
                await raw.nak(delay=redelivery_delay(delivered))
            return
        await raw.ack()
        self.handled += 1
        log.debug("event handled" if applied else "duplicate delivery ignored")
