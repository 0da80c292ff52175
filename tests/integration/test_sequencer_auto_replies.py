"""The sequencer as it runs, with an out-of-office: AutoReplyDetected in, the lead's next step held until
the day after the return date (in the campaign's time zone), announced by LeadsScheduled, and emitted by the
emission pass only once that day has begun. The stack and the helpers are test_sequencer_progress's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from contracts import AutoReplyDetected, LeadsScheduled, StepDue, StepNotSendable
from contracts.campaign_settings import StepData
from contracts.commands import CampaignAction, ReplaceSequence
from services.runtime.service import Service
from services.sequencer import handlers
from services.sequencer.emission import Emitter
from services.sequencer.leads_repository import LeadRepository
from services.sequencer.progress import Progress
from services.sequencer.tables import processed_events
from tests.harness import eventually
from tests.integration import test_sequencer_progress
from tests.integration.test_sequencer_progress import (
    MAILBOX,
    STEPS,
    Bus,
    Stack,
    campaign,
    due_for,
    imported,
    lead,
    quiet,
    sent,
    status,
    verdicts,
)

# The running sequencer of test_sequencer_progress (its own NATS server per module, a fresh database each).
own_nats = test_sequencer_progress.own_nats
stack = test_sequencer_progress.stack

# A zone without summer time, nine hours from UTC: its days are not UTC's, and its window is always open.
TOKYO = ZoneInfo("Asia/Tokyo")
ALL_DAY = {
    "timezone": "Asia/Tokyo",
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "from": "00:00",
    "to": "24:00",
}
TWO_STEPS = STEPS[:2]  # step 2 is due 60 minutes after step 1 went out
DURABLE = "sequencer-auto-replies"


def auto_reply(due: StepDue, return_date: date | None) -> AutoReplyDetected:
    """The inbox's word that the send of `due` was answered by an out-of-office."""
    return AutoReplyDetected(
        workspace_id=due.workspace_id,
        campaign_id=due.campaign_id,
        lead_id=due.lead_id,
        message_id=f"<ooo.{uuid.uuid4()}@firma.cz>",
        from_address=due.email,
        subject_line="Out of office",
        snippet="I am away, back soon.",
        mailbox_id=MAILBOX,
        in_reply_to=f"<{due.lead_id}.{due.step}@firma.cz>",
        step=due.step,
        rule="out-of-office",
        return_date=return_date,
    )


async def progress_of(service: Service, campaign_id: uuid.UUID, lead_id: uuid.UUID) -> Progress:
    async with service.sessions() as session:
        row = await LeadRepository.from_session(session).get(campaign_id, lead_id)
    assert row is not None
    return row.progress


async def handled(service: Service, events: Sequence[AutoReplyDetected]) -> bool:
    """Whether the sequencer has handled these auto-replies (its consumer marked them)."""
    async with service.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(
                processed_events.c.consumer == DURABLE,
                processed_events.c.event_id.in_([e.event_id for e in events]),
            )
        )
    return count == len(events)


def step_two_times(bus: Bus, campaign_id: uuid.UUID, lead_id: uuid.UUID) -> list[datetime | None]:
    """The due times of step 2 the sequencer has announced for the lead, oldest first."""
    return [
        s.due_at
        for e in bus.of(LeadsScheduled, campaign_id)
        for s in e.leads
        if s.lead_id == lead_id and s.step == 2
    ]


async def test_an_out_of_office_holds_the_next_step_until_the_day_after_the_return_date(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service, steps=TWO_STEPS, schedule=ALL_DAY)
    jana, petr = lead(1, first_name="Jana"), lead(2, first_name="Petr")
    await bus.publish(imported(ws, cid, jana, petr), verdicts(ws, cid, [jana, petr]))
    firsts = {d.lead_id: d for d in await due_for(bus, cid, 2)}
    now = datetime.now(UTC)
    back = now.astimezone(TOKYO).date() + timedelta(days=2)
    hold = datetime.combine(back + timedelta(days=1), time(), tzinfo=TOKYO)

    # Jana's out-of-office overtakes the EmailSent of the step it answers: the lead is held while that step
    # is with the mailer, and the step the send schedules (due at once without the hold) waits for it.
    await bus.publish(auto_reply(firsts[jana.lead_id], back))

    async def jana_held() -> bool:
        return (await progress_of(service, cid, jana.lead_id)).not_before == hold

    await eventually(jana_held)
    await bus.publish(sent(firsts[jana.lead_id], now - timedelta(minutes=61)))
    # Petr's comes after his send: his step 2, scheduled an hour from now, is moved to the hold.
    await bus.publish(sent(firsts[petr.lead_id], now))

    async def petr_scheduled() -> bool:
        return step_two_times(bus, cid, petr.lead_id) == [now + timedelta(minutes=60)]

    await eventually(petr_scheduled)
    again = [
        auto_reply(firsts[petr.lead_id], back),
        auto_reply(firsts[petr.lead_id], back - timedelta(days=1)),
    ]
    await bus.publish(auto_reply(firsts[petr.lead_id], back))

    async def both_held() -> bool:
        return step_two_times(bus, cid, petr.lead_id)[-1:] == [hold] and bool(
            step_two_times(bus, cid, jana.lead_id)
        )

    await eventually(both_held)
    # Another out-of-office with the same or an earlier return changes nothing, and announces nothing.
    await bus.publish(*again)
    await eventually(lambda: handled(service, again))
    await quiet()
    assert step_two_times(bus, cid, jana.lead_id) == [hold]
    assert step_two_times(bus, cid, petr.lead_id) == [now + timedelta(minutes=60), hold]
    assert [d.step for d in bus.of(StepDue, cid)] == [1, 1]
    for lead_id in (jana.lead_id, petr.lead_id):
        progress = await progress_of(service, cid, lead_id)
        assert (progress.next_step, progress.due_at, progress.not_before) == (2, hold, hold)

    # The clock driven past the hold: nothing a second before the day after the return, both at its start.
    emitter = Emitter(service)
    assert await emitter.emit_campaign(cid, hold - timedelta(seconds=1)) == 0
    assert await emitter.emit_campaign(cid, hold) == 2
    seconds = [d for d in await due_for(bus, cid, 4) if d.step == 2]
    assert sorted((d.lead_id, d.due_at) for d in seconds) == sorted(
        [(jana.lead_id, hold), (petr.lead_id, hold)]
    )
    assert {d.in_reply_to for d in seconds} == {f"<{x.lead_id}.1@firma.cz>" for x in (jana, petr)}


async def test_an_out_of_office_without_a_return_date_or_with_a_past_one_changes_nothing(
    stack: Stack,
) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service, steps=TWO_STEPS, schedule=ALL_DAY)
    eva, ota = lead(3, first_name="Eva"), lead(4, first_name="Ota")
    await bus.publish(imported(ws, cid, eva, ota), verdicts(ws, cid, [eva, ota]))
    firsts = {d.lead_id: d for d in await due_for(bus, cid, 2)}
    # Paused, so their step 2 (overdue since two days ago) waits while the auto-replies are handled: a hold
    # of today's start (yesterday's return) would be later than it.
    await status(service, ws, cid, CampaignAction.PAUSE)
    sent_at = datetime.now(UTC) - timedelta(days=2)
    due = sent_at + timedelta(minutes=60)
    await bus.publish(*(sent(first, sent_at) for first in firsts.values()))

    async def scheduled() -> bool:
        return all(step_two_times(bus, cid, x.lead_id) == [due] for x in (eva, ota))

    await eventually(scheduled)
    yesterday = datetime.now(UTC).astimezone(TOKYO).date() - timedelta(days=1)
    replies = [auto_reply(firsts[eva.lead_id], None), auto_reply(firsts[ota.lead_id], yesterday)]
    await bus.publish(*replies)
    await eventually(lambda: handled(service, replies))
    for x in (eva, ota):
        progress = await progress_of(service, cid, x.lead_id)
        assert (progress.next_step, progress.due_at, progress.not_before) == (2, due, None)
    await quiet(1)
    assert all(step_two_times(bus, cid, x.lead_id) == [due] for x in (eva, ota))

    # An auto-reply never stops the sequence: resumed, both get step 2 at once.
    await status(service, ws, cid, CampaignAction.RESUME)
    seconds = [d for d in await due_for(bus, cid, 4) if d.step == 2]
    assert sorted((d.lead_id, d.due_at) for d in seconds) == sorted([(eva.lead_id, due), (ota.lead_id, due)])


async def test_a_step_tried_again_after_the_sequence_changed_still_waits_for_the_hold(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    needs_company = [TWO_STEPS[0], StepData(subject="", body="At {{company_name}}?", delay_minutes=60)]
    ws, cid = await campaign(service, steps=needs_company, schedule=ALL_DAY)
    karel = lead(5, first_name="Karel")
    await bus.publish(imported(ws, cid, karel), verdicts(ws, cid, [karel]))
    [first] = await due_for(bus, cid, 1)
    sent_at = datetime.now(UTC) - timedelta(minutes=61)
    await bus.publish(sent(first, sent_at))
    await eventually(lambda: _listed(bus.of(StepNotSendable, cid)))
    # His out-of-office comes while step 2 waits for a company name; the new sequence no longer needs one.
    back = datetime.now(UTC).astimezone(TOKYO).date() + timedelta(days=1)
    hold = datetime.combine(back + timedelta(days=1), time(), tzinfo=TOKYO)
    reply = auto_reply(first, back)
    await bus.publish(reply)
    await eventually(lambda: handled(service, [reply]))
    fallback = [TWO_STEPS[0], StepData(subject="", body="At {{company_name|your firm}}?", delay_minutes=60)]
    await handlers.replace_sequence(
        service, ReplaceSequence(workspace_id=ws, campaign_id=cid, steps=fallback)
    )

    async def rescheduled() -> bool:
        return step_two_times(bus, cid, karel.lead_id) == [sent_at + timedelta(minutes=60), hold]

    await eventually(rescheduled)
    await quiet()
    assert [d.step for d in bus.of(StepDue, cid)] == [1]
    emitter = Emitter(service)
    assert await emitter.emit_campaign(cid, hold - timedelta(seconds=1)) == 0
    assert await emitter.emit_campaign(cid, hold) == 1
    [second] = [d for d in await due_for(bus, cid, 2) if d.step == 2]
    assert (second.body, second.due_at) == ("At your firm?", hold)


async def _listed(found: list[StepNotSendable]) -> list[StepNotSendable] | None:
    return found or None
