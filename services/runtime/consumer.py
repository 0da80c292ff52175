"""Idempotent durable JetStream consumers with a dead-letter subject.

A handler runs inside one database transaction together with the `processed_events` insert, and the
message is acked only after that transaction commits. A redelivered message whose id is already recorded
is acked without running the handler. A handler that raises is nacked with backoff and retried; after
`max_deliver` deliveries, or at once when the payload is not a valid event, the message is copied to
`leadflow-dlq.<durable>` with the error and acked, so one poison message never blocks its consumer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.js import JetStreamContext
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts import AnyEvent, parse_event, subjects
from services.runtime.streams import events_jstream

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncSession, Any], Awaitable[None]]


def redelivery_delay(delivered: int) -> float:
    return float(min(0.2 * 2 ** (delivered - 1), 30.0))


async def dead_letter(js: JetStreamContext, durable: str, msg: NatsMessage, error: str) -> None:
    raw = msg.raw_message
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


class EventConsumer:
    """Registers one durable pull consumer on `broker` that feeds `handler` exactly once per event."""

    def __init__(
        self,
        *,
        broker: NatsBroker,
        durable: str,
        subject: str,
        processed_events: Table,
        sessions: async_sessionmaker[AsyncSession],
        handler: Handler,
        max_deliver: int,
        ack_wait_seconds: float,
        js: Callable[[], JetStreamContext],
        description: str = "",
    ) -> None:
        self.durable = durable
        self.handled = 0
        self._processed = processed_events
        self._sessions = sessions
        self._handler = handler
        self._max_deliver = max_deliver
        self._js = js
        # JetStream's own limit is set above ours: we decide when a message is dead, not the server.
        config = ConsumerConfig(ack_wait=ack_wait_seconds, max_deliver=max_deliver + 2)
        broker.subscriber(
            subject,
            stream=events_jstream(),
            durable=durable,
            pull_sub=PullSub(batch_size=16, timeout=2.0),
            ack_policy=AckPolicy.MANUAL,
            config=config,
            title=durable,
            description=description or f"durable consumer {durable} of {subject}",
        )(self.on_message)

    async def on_message(self, msg: NatsMessage) -> None:
        delivered = msg.raw_message.metadata.num_delivered
        try:
            event: AnyEvent = parse_event(msg.body)
        except ValidationError as exc:
            log.error(
                "undecodable event dead-lettered", durable=self.durable, subject=msg.raw_message.subject
            )
            await dead_letter(self._js(), self.durable, msg, f"undecodable event: {exc}")
            await msg.ack()
            return
        lead_id = getattr(event, "lead_id", None)
        # Bound for the whole handling, so whatever the handler logs carries the message's ids too.
        with structlog.contextvars.bound_contextvars(
            durable=self.durable,
            event_id=str(event.event_id),
            event_type=event.event_type,
            workspace_id=str(event.workspace_id),
            lead_id=str(lead_id) if lead_id else None,
        ):
            await self._process(msg, event, delivered)

    async def _process(self, msg: NatsMessage, event: AnyEvent, delivered: int) -> None:
        try:
            async with self._sessions() as session, session.begin():
                first_time = (
                    await session.execute(
                        insert(self._processed)
                        .values(consumer=self.durable, event_id=event.event_id)
                        .on_conflict_do_nothing()
                        .returning(self._processed.c.event_id)
                    )
                ).first()
                if first_time is not None:
                    await self._handler(session, event)
        except Exception as exc:
            if delivered >= self._max_deliver:
                log.error("handler failed, dead-lettered", deliveries=delivered, error=repr(exc))
                await dead_letter(self._js(), self.durable, msg, repr(exc))
                await msg.ack()
            else:
                log.warning("handler failed, will retry", deliveries=delivered, error=repr(exc))
                await msg.nack(delay=redelivery_delay(delivered))
            return
        await msg.ack()
        self.handled += 1
        log.debug("event handled" if first_time is not None else "duplicate delivery ignored")
