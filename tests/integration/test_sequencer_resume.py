"""The sequencer as it runs, with a reply or a hard bounce a person overturned in the Unibox: the
InboundReclassified with `undoes` resumes a lead that stop alone stopped — its next step scheduled from its
last send and emitted when due — and nothing else: a lead stopped by an unsubscribe stays stopped, and a
reclassification that undoes nothing changes nothing. The stack and the helpers are
test_sequencer_progress's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from contracts import (
    EmailBounced,
    ImportedLead,
    InboundReclassified,
    LeadEvent,
    LeadsScheduled,
    LeadStatus,
    LeadUnsubscribed,
    ReplyDetected,
    StepDue,
)
from services.runtime.service import Service
from services.sequencer.progress import LeadState, Progress
from services.sequencer.tables import processed_events
from tests.harness import eventually
from tests.integration import test_sequencer_progress
from tests.integration.test_sequencer_auto_replies import progress_of
from tests.integration.test_sequencer_progress import (
    STEPS,
    Stack,
    campaign,
    due_for,
    imported,
    lead,
    quiet,
    sent,
)
from tests.integration.test_sequencer_progress import verdicts as valid

own_nats = test_sequencer_progress.own_nats
stack = test_sequencer_progress.stack

TWO_STEPS = STEPS[:2]  # step 2 is due 60 minutes after step 1 went out
DURABLE = "sequencer-reclassified"


def reclassified(stop: LeadEvent, undoes: LeadStatus | None) -> InboundReclassified:
    """A person's overturning, in the Unibox, of the message that made `stop`."""
    assert isinstance(stop, ReplyDetected | EmailBounced)
    return InboundReclassified(
        workspace_id=stop.workspace_id,
        campaign_id=stop.campaign_id,
        lead_id=stop.lead_id,
        inbox_message_id=uuid.uuid4(),
        from_kind="reply" if isinstance(stop, ReplyDetected) else "hard_bounce",
        to_kind="auto_reply",
        by="key:alice",
        email="x@firma.cz",
        undoes=undoes,
    )


async def stopped_then_sent(
    stack: Stack, stops: dict[uuid.UUID, LeadEvent], *leads: ImportedLead
) -> uuid.UUID:
    """A two-step campaign whose leads, each with step 1 at the mailer, are stopped (`stops`, by lead), and
    whose step 1 then went out 61 minutes ago (the send crossed the stop): step 2 would be due by now."""
    bus, service = stack.bus, stack.service
    cid = next(iter(stops.values())).campaign_id
    firsts = {d.lead_id: d for d in await due_for(bus, cid, len(leads))}
    await bus.publish(*stops.values())

    async def all_stopped() -> bool:
        states = [(await progress_of(service, cid, x.lead_id)).state for x in leads]
        return all(state is LeadState.STOPPED for state in states)

    await eventually(all_stopped)
    await bus.publish(*(sent(firsts[x.lead_id], datetime.now(UTC) - timedelta(minutes=61)) for x in leads))

    async def all_sent() -> bool:
        sends = [len((await progress_of(service, cid, x.lead_id)).message_ids) for x in leads]
        return sends == [1] * len(leads)

    await eventually(all_sent)
    await quiet()
    assert [d.step for d in bus.of(StepDue, cid)] == [1] * len(leads)  # stopped: no step 2
    return cid


async def handled(service: Service, events: Sequence[InboundReclassified]) -> bool:
    async with service.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(
                processed_events.c.consumer == DURABLE,
                processed_events.c.event_id.in_([e.event_id for e in events]),
            )
        )
    return count == len(events)


async def test_an_overturned_reply_or_bounce_resumes_the_lead_from_its_last_send(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service, steps=TWO_STEPS)
    ana, petr = lead(1, first_name="Ana"), lead(2, first_name="Petr")
    await bus.publish(imported(ws, cid, ana, petr), valid(ws, cid, [ana, petr]))
    common = {"workspace_id": ws, "campaign_id": cid}
    stops: dict[uuid.UUID, LeadEvent] = {
        ana.lead_id: ReplyDetected(**common, lead_id=ana.lead_id, message_id="<r@x>", from_address=ana.email),
        petr.lead_id: EmailBounced(
            **common, lead_id=petr.lead_id, source="dsn", kind="hard", smtp_code=550, email=petr.email
        ),
    }
    await stopped_then_sent(stack, stops, ana, petr)
    sent_at = (await progress_of(service, cid, ana.lead_id)).last_sent_at
    assert sent_at is not None

    await bus.publish(
        reclassified(stops[ana.lead_id], LeadStatus.REPLIED),
        reclassified(stops[petr.lead_id], LeadStatus.BOUNCED),
    )
    seconds = [d for d in await due_for(bus, cid, 4) if d.step == 2]
    assert {d.lead_id for d in seconds} == {ana.lead_id, petr.lead_id}
    resumed = [s for e in bus.of(LeadsScheduled, cid) for s in e.leads if s.step == 2]
    assert {(s.lead_id, s.due_at) for s in resumed if s.lead_id == ana.lead_id} == {
        (ana.lead_id, sent_at + timedelta(minutes=60))
    }
    ana_now: Progress = await progress_of(service, cid, ana.lead_id)
    assert (ana_now.state, ana_now.next_step, ana_now.stop_reason) == (LeadState.DUE, 2, None)
    await quiet()
    assert sorted(d.step for d in bus.of(StepDue, cid)) == [1, 1, 2, 2]  # step 1 never again


async def test_an_unsubscribed_lead_or_an_overturning_that_undoes_nothing_stays_stopped(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service, steps=TWO_STEPS)
    gone, still = lead(1, first_name="Gone"), lead(2, first_name="Still")
    await bus.publish(imported(ws, cid, gone, still), valid(ws, cid, [gone, still]))
    common = {"workspace_id": ws, "campaign_id": cid}
    reply = ReplyDetected(**common, lead_id=still.lead_id, message_id="<r@x>", from_address=still.email)
    stops: dict[uuid.UUID, LeadEvent] = {
        gone.lead_id: LeadUnsubscribed(**common, lead_id=gone.lead_id, email=gone.email, source="link"),
        still.lead_id: reply,
    }
    await stopped_then_sent(stack, stops, gone, still)
    gone_reply = ReplyDetected(**common, lead_id=gone.lead_id, message_id="<g@x>", from_address=gone.email)
    overturnings = [
        reclassified(gone_reply, LeadStatus.REPLIED),  # its reply overturned; its unsubscribe stands
        reclassified(reply, None),  # another reply of the lead still stands
    ]
    await bus.publish(*overturnings)
    await eventually(lambda: handled(service, overturnings))
    await quiet()
    assert [d.step for d in bus.of(StepDue, cid)] == [1, 1]
    for who, reason in ((gone, "unsubscribed"), (still, "replied")):
        progress = await progress_of(service, cid, who.lead_id)
        assert (progress.state, progress.stop_reason) == (LeadState.STOPPED, reason)
