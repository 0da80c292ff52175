"""The sequencer as it runs, with a campaign's `stop_on_company_reply`: a reply stops every lead of the
campaign at the replier's company (its address's domain, case aside), each announced by SequenceStopped;
other domains, free-mail ones and campaigns without the setting go on. The stack and the helpers are
test_sequencer_progress's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import ImportedLead, ReplyDetected, SequenceStopped, StepDue, parse_event
from services.runtime.service import Service
from services.sequencer.progress import LeadState
from tests.harness import eventually
from tests.integration import test_sequencer_progress
from tests.integration.test_sequencer_auto_replies import progress_of
from tests.integration.test_sequencer_progress import (
    STEPS,
    Bus,
    Stack,
    campaign,
    due_for,
    imported,
    quiet,
    sent,
)
from tests.integration.test_sequencer_progress import verdicts as valid

own_nats = test_sequencer_progress.own_nats
stack = test_sequencer_progress.stack

TWO_STEPS = STEPS[:2]  # step 2 is due 60 minutes after step 1 went out


def lead(email: str) -> ImportedLead:
    return ImportedLead(lead_id=uuid.uuid4(), email=email, row=1, first_name="X")


async def heard_stops(bus: Bus) -> None:
    """The test's bus hears SequenceStopped too."""

    async def heard(msg: Any) -> None:
        bus.seen.append(parse_event(msg.data))

    await bus.nc.subscribe("leadflow.*.sequence_stopped", cb=heard)


def reply(ws: uuid.UUID, cid: uuid.UUID, who: ImportedLead) -> ReplyDetected:
    return ReplyDetected(
        workspace_id=ws,
        campaign_id=cid,
        lead_id=who.lead_id,
        message_id=f"<reply.{uuid.uuid4()}@x>",
        from_address=who.email,
    )


async def started(
    stack: Stack, *leads: ImportedLead, **settings: Any
) -> tuple[uuid.UUID, uuid.UUID, dict[uuid.UUID, StepDue]]:
    """A two-step campaign whose leads all have step 1 with the mailer (`due`)."""
    ws, cid = await campaign(stack.service, steps=TWO_STEPS, **settings)
    await stack.bus.publish(imported(ws, cid, *leads), valid(ws, cid, list(leads)))
    firsts = {d.lead_id: d for d in await due_for(stack.bus, cid, len(leads))}
    return ws, cid, firsts


async def stopped(service: Service, cid: uuid.UUID, who: ImportedLead) -> str | None:
    progress = await progress_of(service, cid, who.lead_id)
    return progress.stop_reason if progress.state is LeadState.STOPPED else None


async def second_steps_after_sends(
    stack: Stack, cid: uuid.UUID, firsts: dict[uuid.UUID, StepDue]
) -> set[uuid.UUID]:
    """Every step 1 went out 61 minutes ago (a send crossed the reply): who is handed step 2."""
    earlier = datetime.now(UTC) - timedelta(minutes=61)
    await stack.bus.publish(*(sent(due, earlier) for due in firsts.values()))
    await quiet(4)
    return {d.lead_id for d in stack.bus.of(StepDue, cid) if d.step == 2}


async def test_a_reply_stops_the_repliers_company_but_no_other_domain(stack: Stack) -> None:
    await heard_stops(stack.bus)
    ana, petr, eva = lead("ana@firma.cz"), lead("petr@firma.cz"), lead("Eva.Nova@FIRMA.CZ")
    jana, x = lead("jana@gmail.com"), lead("x@other.cz")
    ws, cid, firsts = await started(stack, ana, petr, eva, jana, x, stop_on_company_reply=True)
    await stack.bus.publish(reply(ws, cid, ana))

    async def colleagues_stopped() -> list[SequenceStopped] | None:
        found = stack.bus.of(SequenceStopped, cid)
        return found if len(found) >= 2 else None

    stops = await eventually(colleagues_stopped)
    assert {s.lead_id for s in stops} == {petr.lead_id, eva.lead_id}
    assert {(s.reason, s.replied_lead_id, s.domain) for s in stops} == {
        ("company replied", ana.lead_id, "firma.cz")
    }
    assert await stopped(stack.service, cid, petr) == "company replied"
    assert await stopped(stack.service, cid, eva) == "company replied"
    assert await stopped(stack.service, cid, ana) == "replied"
    assert await stopped(stack.service, cid, jana) is None and await stopped(stack.service, cid, x) is None
    assert await second_steps_after_sends(stack, cid, firsts) == {jana.lead_id, x.lead_id}
    assert len(stack.bus.of(SequenceStopped, cid)) == 2  # announced once each


async def test_without_the_setting_or_from_free_mail_a_reply_stops_only_its_lead(stack: Stack) -> None:
    await heard_stops(stack.bus)
    ana, petr = lead("ana@firma.cz"), lead("petr@firma.cz")
    ws, plain, firsts = await started(stack, ana, petr)  # stop_on_company_reply is false by default
    jana, karel = lead("jana@gmail.com"), lead("karel@GMAIL.com")
    ws2, free, free_firsts = await started(stack, jana, karel, stop_on_company_reply=True)
    await stack.bus.publish(reply(ws, plain, ana), reply(ws2, free, jana))

    async def repliers_stopped() -> bool:
        return (await stopped(stack.service, plain, ana), await stopped(stack.service, free, jana)) == (
            "replied",
            "replied",
        )

    await eventually(repliers_stopped)
    assert await second_steps_after_sends(stack, plain, firsts) == {petr.lead_id}
    assert await second_steps_after_sends(stack, free, free_firsts) == {karel.lead_id}
    assert stack.bus.of(SequenceStopped, plain) == [] and stack.bus.of(SequenceStopped, free) == []
