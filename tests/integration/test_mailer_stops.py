"""A lead's stop holds against the StepDue that come after it on their own durable (`services/mailer/stops.py`),
on a real PostgreSQL, and with the mailer running against a real submission server:

- a StepDue no newer than the lead's kept stop is not queued, nor does it queue a cancelled send again; one
  the sequencer emitted after the stop (the lead resumed) is;
- a stop handled after the StepDue cancels the queued send and is kept, the latest of a lead's stops winning
  whatever order they come in;
- a send whose lead stopped after it was queued (the stop and the StepDue handled at the same time, so the
  cancel did not see it) is cancelled when it is reserved: never sent, no event, while another lead's goes.

The mailer's fixtures are test_sending's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import ReplyDetected
from contracts.campaign_settings import CampaignStatus
from contracts.events import EmailSent, SendFailed, StepDue
from services.mailer.sends_repository import SendRepository
from services.mailer.tables import lead_stops, sends
from services.runtime.db import create_engine, session_factory
from services.runtime.service import Service
from tests.integration import test_sending
from tests.integration.mail_world import World, eventually
from tests.integration.test_mailer_queue import NOW, step_due

own_nats = test_sending.own_nats
nats_url = test_sending.nats_url
certificate = test_sending.certificate
server = test_sending.server
mailers = test_sending.mailers
world = test_sending.world

SECOND = timedelta(seconds=1)


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database_url)
    yield engine
    await engine.dispose()


async def queue(engine: AsyncEngine, *events: StepDue) -> None:
    async with session_factory(engine=engine)() as session, session.begin():
        await SendRepository.from_session(session).queue(events, NOW)


async def stop(engine: AsyncEngine, campaign_id: uuid.UUID, lead_ids: list[uuid.UUID], at: datetime) -> None:
    async with session_factory(engine=engine)() as session, session.begin():
        await SendRepository.from_session(session).stop(campaign_id, lead_ids, at)


async def sends_of(
    engine: AsyncEngine, *lead_ids: uuid.UUID
) -> dict[tuple[uuid.UUID, int], tuple[str, object]]:
    """(lead, step) → (state, requested_at)."""
    async with session_factory(engine=engine)() as session:
        rows = await session.execute(
            select(sends.c.lead_id, sends.c.step, sends.c.state, sends.c.requested_at).where(
                sends.c.lead_id.in_(lead_ids)
            )
        )
    return {(r.lead_id, r.step): (r.state, r.requested_at) for r in rows}


async def stops_of(engine: AsyncEngine, *lead_ids: uuid.UUID) -> dict[uuid.UUID, datetime]:
    async with session_factory(engine=engine)() as session:
        rows = await session.execute(
            select(lead_stops.c.lead_id, lead_stops.c.stopped_at).where(lead_stops.c.lead_id.in_(lead_ids))
        )
    return {r.lead_id: r.stopped_at for r in rows}


async def test_a_step_due_no_newer_than_the_leads_stop_is_not_queued_and_a_newer_one_is(
    engine: AsyncEngine,
) -> None:
    """The race: the lead replied and the stop was handled (nothing to cancel yet), then the StepDue the
    sequencer had emitted before the reply arrived on its own durable."""
    stopped_at = NOW - timedelta(minutes=1)
    before, same, after = (step_due([], occurred_at=stopped_at + d) for d in (-SECOND, timedelta(0), SECOND))
    other = step_due([], occurred_at=stopped_at - SECOND)  # no stop of its lead
    for event in (before, same, after):
        await stop(engine, event.campaign_id, [event.lead_id], stopped_at)
    await queue(engine, before, same, after, other)
    stored = await sends_of(engine, before.lead_id, same.lead_id, after.lead_id, other.lead_id)
    assert stored == {
        (after.lead_id, 2): ("queued", after.occurred_at),
        (other.lead_id, 2): ("queued", other.occurred_at),
    }


async def test_a_cancelled_send_is_queued_again_only_by_a_step_due_newer_than_the_stop(
    engine: AsyncEngine,
) -> None:
    """A stop handled after the StepDue cancels the queued send and is kept; the same StepDue redelivered
    leaves it cancelled; the sequencer's StepDue after a person overturned the reply queues it again."""
    first = step_due([], occurred_at=NOW - timedelta(minutes=10))
    await queue(engine, first)
    replied = NOW - timedelta(minutes=5)
    await stop(engine, first.campaign_id, [first.lead_id], replied)
    assert await sends_of(engine, first.lead_id) == {(first.lead_id, 2): ("cancelled", first.occurred_at)}
    assert await stops_of(engine, first.lead_id) == {first.lead_id: replied}

    await queue(engine, first, first.model_copy(update={"event_id": uuid.uuid4()}))
    assert await sends_of(engine, first.lead_id) == {(first.lead_id, 2): ("cancelled", first.occurred_at)}

    resumed = first.model_copy(update={"event_id": uuid.uuid4(), "occurred_at": NOW})
    await queue(engine, resumed)
    assert await sends_of(engine, first.lead_id) == {(first.lead_id, 2): ("queued", NOW)}


async def test_the_latest_of_a_leads_stops_is_kept_whatever_order_they_come_in(engine: AsyncEngine) -> None:
    campaign_id = uuid.uuid4()
    # A person's change of a batch (LeadStatusChanged names up to 1,000 leads, maybe one twice).
    batch = [uuid.uuid4() for _ in range(1000)]
    late, early = NOW, NOW - timedelta(hours=1)
    await stop(engine, campaign_id, [*batch, batch[0]], late)
    await stop(engine, campaign_id, batch[:10], early)  # an older stop handled later
    assert await stops_of(engine, *batch) == dict.fromkeys(batch, late)
    await stop(engine, campaign_id, batch[:10], late)  # a redelivery
    assert await stops_of(engine, *batch) == dict.fromkeys(batch, late)
    await stop(engine, campaign_id, batch[:1], late + SECOND)
    assert (await stops_of(engine, batch[0], batch[1])) == {batch[0]: late + SECOND, batch[1]: late}


async def stored_stops(mailer: Service, lead_id: uuid.UUID) -> list[datetime]:
    async with mailer.sessions() as session:
        return list(
            await session.scalars(select(lead_stops.c.stopped_at).where(lead_stops.c.lead_id == lead_id))
        )


def reply(world: World, lead_id: uuid.UUID, email: str) -> ReplyDetected:
    return ReplyDetected(
        workspace_id=world.workspace_id,
        campaign_id=world.campaign_id,
        lead_id=lead_id,
        message_id=f"<reply.{uuid.uuid4()}@example.test>",
        from_address=email,
    )


async def test_a_step_due_that_comes_after_the_reply_it_predates_is_never_sent(world: World) -> None:
    await world.add_mailbox()
    await world.campaign()
    lead, other = uuid.uuid4(), uuid.uuid4()
    due = world.step_due(lead, "talks@example.test", step=2)  # emitted before the lead replied
    answered = reply(world, lead, "talks@example.test")
    await world.publish(answered)
    assert await eventually(lambda: stored_stops(world.mailer, lead)) == [answered.occurred_at]
    await world.publish(due)
    # The StepDue come on one durable, in order: once the other lead's is sent, the first was handled.
    await world.publish(world.step_due(other, "x@other.test"))
    await eventually(lambda: world.received_by("x@other.test"))
    await asyncio.sleep(1.0)
    assert world.received_by("talks@example.test") == []
    assert (lead, 2) not in await world.states()
    assert [e.lead_id for e in await world.events(EmailSent, SendFailed)] == [other]


async def test_a_reply_after_the_step_was_queued_cancels_it_and_is_kept(world: World) -> None:
    await world.add_mailbox()
    await world.campaign(status=CampaignStatus.PAUSED)
    lead = uuid.uuid4()
    await world.publish(world.step_due(lead, "talks@example.test"))
    await eventually(lambda: world.states())
    answered = reply(world, lead, "talks@example.test")
    await world.publish(answered)
    await eventually(lambda: _states_are(world, {(lead, 1): "cancelled"}))
    assert await stored_stops(world.mailer, lead) == [answered.occurred_at]


async def test_a_send_whose_lead_stopped_after_it_was_queued_is_cancelled_when_reserved(world: World) -> None:
    """The stop and the StepDue handled at the same moment: the cancel did not see the send being queued,
    the queueing did not see the stop. The stop's row is written here directly, as it would be."""
    await world.add_mailbox()
    await world.campaign(status=CampaignStatus.PAUSED)
    lead, other = uuid.uuid4(), uuid.uuid4()
    due = world.step_due(lead, "talks@example.test")
    await world.publish(due)
    await world.publish(world.step_due(other, "x@other.test"))
    await eventually(lambda: _states_are(world, {(lead, 1): "queued", (other, 1): "queued"}))
    async with world.mailer.sessions() as session, session.begin():
        await session.execute(
            insert(lead_stops).values(lead_id=lead, campaign_id=world.campaign_id, stopped_at=due.occurred_at)
        )
    await world.campaign(status=CampaignStatus.ACTIVE)
    await eventually(lambda: world.received_by("x@other.test"))
    await eventually(lambda: _states_are(world, {(lead, 1): "cancelled", (other, 1): "sent"}))
    await asyncio.sleep(1.0)
    assert world.received_by("talks@example.test") == []
    assert [e.lead_id for e in await world.events(EmailSent, SendFailed)] == [other]


async def _states_are(world: World, expected: dict[tuple[uuid.UUID, int], str]) -> bool:
    return await world.states() == expected
