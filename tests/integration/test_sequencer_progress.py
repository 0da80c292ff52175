"""The sequencer as it runs (its own NATS user, real PostgreSQL and JetStream): leads' events in, StepDue
and the rest out — rendered, threaded, within the window, the daily limit and the campaign's status."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from sqlalchemy import select

from contracts import (
    CampaignUpdated,
    EmailBounced,
    EmailSent,
    Event,
    ImportedLead,
    LeadCompleted,
    LeadImported,
    LeadsScheduled,
    LeadStatus,
    LeadStatusChanged,
    LeadsValidated,
    LeadUnsubscribed,
    MailboxHealthChanged,
    ReplyDetected,
    SendFailed,
    SendUncertain,
    StepDue,
    StepNotSendable,
    ValidatedLead,
    Verdict,
    parse_event,
)
from contracts.campaign_settings import CampaignStatus, StepData
from contracts.commands import (
    CampaignAction,
    CampaignStateReply,
    ChangeCampaignStatus,
    CreateCampaign,
    GetCampaign,
    PreviewSequence,
    ReplaceSequence,
    SequencePreview,
    SettingsChange,
    UpdateCampaignSettings,
)
from contracts.events import LeadsRemoved
from contracts.replies import Refusal
from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.streams import ensure_streams
from services.sequencer import handlers
from services.sequencer.app import create_service
from services.sequencer.tables import campaign_days
from tests.harness import TEST_CLIENT, eventually, temporary_nats

MAILBOX = uuid.UUID(int=11)
STEPS = [
    StepData(subject="Hi {{first_name}}", body="Hello from {{company_name|us}}", delay_minutes=0),
    StepData(subject="", body="Following up, {{first_name}}", delay_minutes=60),
    StepData(subject="", body="Last one", delay_minutes=60),
]


@dataclass
class Bus:
    nc: Client
    seen: list[Event] = field(default_factory=list)

    async def publish(self, *events: Event) -> None:
        js = self.nc.jetstream()
        for event in events:
            await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})

    def of(self, kind: type[Any], campaign_id: uuid.UUID) -> list[Any]:
        return [
            e for e in self.seen if isinstance(e, kind) and getattr(e, "campaign_id", None) == campaign_id
        ]


@dataclass
class Stack:
    service: Service
    bus: Bus


@pytest.fixture(scope="module")
def own_nats() -> Iterator[EmbeddedNats]:
    with temporary_nats() as server:
        yield server


@pytest.fixture
async def stack(own_nats: EmbeddedNats, fresh_database_url: Callable[[], str]) -> AsyncIterator[Stack]:
    url = fresh_database_url()
    migrations.upgrade(url, MIGRATED_SERVICES)
    settings = Settings(
        nats_url=own_nats.url,
        nats_user="sequencer",
        nats_password=own_nats.credentials.password("sequencer"),
        database_url=url,
    )
    nc = await nats.connect(own_nats.url_for(TEST_CLIENT))
    await ensure_streams(nc.jetstream())
    bus = Bus(nc)

    async def heard(msg: Any) -> None:
        bus.seen.append(parse_event(msg.data))

    await nc.subscribe("leadflow.*.step_due", cb=heard)
    await nc.subscribe("leadflow.*.step_not_sendable", cb=heard)
    await nc.subscribe("leadflow.*.leads_scheduled", cb=heard)
    await nc.subscribe("leadflow.*.lead_completed", cb=heard)
    await nc.subscribe("leadflow.*.campaign_updated", cb=heard)
    service = create_service(settings)
    async with service.running():
        yield Stack(service, bus)
    await nc.close()


async def campaign(
    service: Service, *, activate: bool = True, steps: list[StepData] = STEPS, **settings: Any
) -> tuple[uuid.UUID, uuid.UUID]:
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    await handlers.create_campaign(
        service, CreateCampaign(workspace_id=workspace_id, campaign_id=campaign_id, name="Jaro")
    )
    fields = {"mailbox_ids": [MAILBOX], **settings}
    await handlers.update_settings(
        service,
        UpdateCampaignSettings(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            change=SettingsChange.model_validate(fields),
            fields_set=sorted(fields),
        ),
    )
    await handlers.replace_sequence(
        service, ReplaceSequence(workspace_id=workspace_id, campaign_id=campaign_id, steps=steps)
    )
    if activate:
        await status(service, workspace_id, campaign_id, CampaignAction.ACTIVATE)
    return workspace_id, campaign_id


async def status(
    service: Service,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    action: CampaignAction,
    failures: list[str] | None = None,
) -> CampaignStateReply | Refusal:
    return await handlers.change_status(
        service,
        ChangeCampaignStatus(
            workspace_id=workspace_id, campaign_id=campaign_id, action=action, mailbox_failures=failures or []
        ),
    )


def imported(workspace_id: uuid.UUID, campaign_id: uuid.UUID, *leads: ImportedLead) -> LeadImported:
    return LeadImported(
        workspace_id=workspace_id, campaign_id=campaign_id, import_id=uuid.uuid4(), chunk=0, leads=list(leads)
    )


def lead(n: int, **fields: Any) -> ImportedLead:
    return ImportedLead(lead_id=uuid.uuid4(), email=f"l{n}@firma.cz", row=n, **fields)


def verdicts(
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    leads: list[ImportedLead],
    verdict: Verdict = Verdict.VALID,
) -> LeadsValidated:
    return LeadsValidated(
        workspace_id=workspace_id,
        campaign_id=campaign_id,
        leads=[ValidatedLead(lead_id=x.lead_id, email=x.email, verdict=verdict, reason="ok") for x in leads],
    )


def sent(due: StepDue, at: datetime, message_id: str | None = None) -> EmailSent:
    return EmailSent(
        workspace_id=due.workspace_id,
        campaign_id=due.campaign_id,
        lead_id=due.lead_id,
        step=due.step,
        total_steps=due.total_steps,
        message_id=message_id or f"<{due.lead_id}.{due.step}@firma.cz>",
        mailbox="obchod@firma.cz",
        mailbox_id=MAILBOX,
        subject=due.subject_line,
        occurred_at=at,
    )


async def due_for(bus: Bus, campaign_id: uuid.UUID, count: int) -> list[StepDue]:
    async def enough() -> list[StepDue] | None:
        found = bus.of(StepDue, campaign_id)
        return found if len(found) >= count else None

    return await eventually(enough)


async def quiet(seconds: float = 3.0) -> None:
    """Long enough for a pass of the emission loop (every 2 s) to have emitted what it would."""
    await asyncio.sleep(seconds)


async def test_a_lead_goes_through_every_step_threaded_and_completes(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service)
    jana = lead(1, first_name="Jana", company_name="Acme")
    await bus.publish(imported(ws, cid, jana), verdicts(ws, cid, [jana]))
    [first] = await due_for(bus, cid, 1)
    assert (first.lead_id, first.step, first.total_steps, first.email) == (jana.lead_id, 1, 3, "l1@firma.cz")
    assert (first.subject_line, first.body) == ("Hi Jana", "Hello from Acme")
    assert (first.in_reply_to, first.references, first.mailbox_id) == (None, [], None)

    sent_at = datetime.now(UTC) - timedelta(minutes=61)
    await bus.publish(sent(first, sent_at))
    second = (await due_for(bus, cid, 2))[1]
    assert second.step == 2 and second.subject_line == "Re: Hi Jana" and second.body == "Following up, Jana"
    assert second.in_reply_to == f"<{jana.lead_id}.1@firma.cz>" and second.references == [second.in_reply_to]
    assert second.mailbox_id == MAILBOX
    scheduled = [s for e in bus.of(LeadsScheduled, cid) for s in e.leads if s.step == 2]
    assert [s.due_at for s in scheduled] == [sent_at + timedelta(minutes=60)]

    await bus.publish(sent(second, sent_at + timedelta(seconds=1)))
    third = (await due_for(bus, cid, 3))[2]
    assert third.references == [f"<{jana.lead_id}.1@firma.cz>", f"<{jana.lead_id}.2@firma.cz>"]
    await bus.publish(sent(third, datetime.now(UTC)))
    [done] = await eventually(lambda: _async(bus.of(LeadCompleted, cid)))
    assert (done.lead_id, done.total_steps) == (jana.lead_id, 3)
    counts = await get(service, ws, cid)
    assert [(c.step, c.sent) for c in counts.step_counts] == [(1, 1), (2, 1), (3, 1)]
    await quiet()
    assert len(bus.of(StepDue, cid)) == 3


async def test_a_campaign_whose_leads_all_finished_completes_and_new_due_leads_reopen_it(
    stack: Stack,
) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service, steps=STEPS[:1])
    jana, petr = lead(1, first_name="Jana"), lead(2, first_name="Petr")
    await bus.publish(imported(ws, cid, jana, petr), verdicts(ws, cid, [jana, petr]))
    first = await due_for(bus, cid, 2)
    await bus.publish(sent(first[0], datetime.now(UTC)))
    await eventually(lambda: _async(bus.of(LeadCompleted, cid)))
    # Petr's step is still due (the mailer has not sent it): the campaign goes on.
    await quiet(4)
    assert (await get(service, ws, cid)).status is CampaignStatus.ACTIVE
    # His sequence stops (he replied): every lead has finished, so the campaign completes, and says so.
    await bus.publish(
        ReplyDetected(
            workspace_id=ws,
            campaign_id=cid,
            lead_id=first[1].lead_id,
            message_id="<r@x.cz>",
            from_address=first[1].email,
        )
    )

    async def status_is(wanted: CampaignStatus) -> bool:
        return (await get(service, ws, cid)).status is wanted

    await eventually(lambda: status_is(CampaignStatus.COMPLETED))
    assert [e.status for e in bus.of(CampaignUpdated, cid)][-1] is CampaignStatus.COMPLETED
    # A lead imported later is due at once: the campaign is active again and sends it.
    eva = lead(3, first_name="Eva")
    await bus.publish(imported(ws, cid, eva), verdicts(ws, cid, [eva]))
    await eventually(lambda: status_is(CampaignStatus.ACTIVE))
    [third] = [d for d in await due_for(bus, cid, 3) if d.lead_id == eva.lead_id]
    assert third.subject_line == "Hi Eva"


async def test_a_reply_stops_it_invalid_never_starts_and_pending_waits(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service)
    replier, invalid, pending = lead(1, first_name="A"), lead(2, first_name="B"), lead(3, first_name="C")
    await bus.publish(
        imported(ws, cid, replier, invalid, pending),
        verdicts(ws, cid, [replier]),
        verdicts(ws, cid, [invalid], Verdict.INVALID),
    )
    [first] = await due_for(bus, cid, 1)
    assert first.lead_id == replier.lead_id
    reply = ReplyDetected(
        workspace_id=ws,
        campaign_id=cid,
        lead_id=replier.lead_id,
        message_id="<r@x>",
        from_address=replier.email,
    )
    await bus.publish(reply, sent(first, datetime.now(UTC) - timedelta(hours=2)))
    await quiet()
    assert [e.lead_id for e in bus.of(StepDue, cid)] == [replier.lead_id]
    waiting = [s for e in bus.of(LeadsScheduled, cid) for s in e.leads if s.lead_id == pending.lead_id]
    assert [(s.step, s.due_at) for s in waiting] == [(1, None)]
    counts = (await get(service, ws, cid)).step_counts[0]
    assert (counts.sent, counts.waiting, counts.due) == (1, 1, 0)


async def test_without_waiting_for_validation_a_pending_lead_is_sent(stack: Stack) -> None:
    ws, cid = await campaign(stack.service, wait_for_validation=False)
    # What a value may hold goes through the outbox's COPY as it is: backslashes, tabs, quotes, lines.
    company = 'C:\\new\\x00\t"Ďáblice" \\\\ s.r.o.\r\nline 2 \u2028 end'
    await stack.bus.publish(imported(ws, cid, lead(1, first_name="A", company_name=company)))
    [due] = await due_for(stack.bus, cid, 1)
    assert due.body == f"Hello from {company}"


async def test_a_paused_campaign_or_a_closed_window_emits_nothing_until_it_opens(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    now = datetime.now(UTC)
    closed_from = (now + timedelta(hours=6)).strftime("%H:00")
    closed_to = (now + timedelta(hours=7)).strftime("%H:00")
    if closed_to <= closed_from:
        closed_from, closed_to = "00:00", "00:01" if now.hour else "23:59"
    closed = {"timezone": "UTC", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    ws1, windowed = await campaign(service, schedule={**closed, "from": closed_from, "to": closed_to})
    ws2, paused = await campaign(service)
    await status(service, ws2, paused, CampaignAction.PAUSE)
    a, b = lead(1, first_name="A"), lead(2, first_name="B")
    await bus.publish(imported(ws1, windowed, a), verdicts(ws1, windowed, [a]))
    await bus.publish(imported(ws2, paused, b), verdicts(ws2, paused, [b]))
    await eventually(lambda: _async(bus.of(LeadsScheduled, paused)))
    await quiet()
    assert bus.of(StepDue, windowed) == [] and bus.of(StepDue, paused) == []
    await status(service, ws2, paused, CampaignAction.RESUME)
    await due_for(bus, paused, 1)


async def test_the_campaign_daily_limit_holds(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service, daily_limit=3)
    leads = [lead(n, first_name=f"N{n}") for n in range(1, 8)]
    await bus.publish(imported(ws, cid, *leads), verdicts(ws, cid, leads))
    await due_for(bus, cid, 3)
    await quiet()
    assert len(bus.of(StepDue, cid)) == 3
    async with service.sessions() as session:
        assert (
            await session.scalar(select(campaign_days.c.emitted).where(campaign_days.c.campaign_id == cid))
            == 3
        )


async def test_a_missing_variable_is_not_sendable_until_the_sequence_no_longer_needs_it(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service)
    nameless = lead(1, company_name="Acme")
    await bus.publish(imported(ws, cid, nameless), verdicts(ws, cid, [nameless]))
    [flag] = await eventually(lambda: _async(bus.of(StepNotSendable, cid)))
    assert (flag.lead_id, flag.step, flag.missing) == (nameless.lead_id, 1, ["first_name"])
    assert (await get(service, ws, cid)).step_counts[0].not_sendable == 1
    assert bus.of(StepDue, cid) == []
    fallback = [StepData(subject="Hi {{first_name|there}}", body="Hello", delay_minutes=0)]
    await handlers.replace_sequence(
        service, ReplaceSequence(workspace_id=ws, campaign_id=cid, steps=fallback)
    )
    [due] = await due_for(bus, cid, 1)
    assert due.subject_line == "Hi there" and due.total_steps == 1


async def test_activation_schedules_the_sendable_leads_and_refuses_with_mailbox_failures(
    stack: Stack,
) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service, activate=False)
    x = lead(1, first_name="X")
    await bus.publish(imported(ws, cid, x), verdicts(ws, cid, [x]))
    await eventually(lambda: _async(bus.of(LeadsScheduled, cid)))
    await quiet()
    assert bus.of(StepDue, cid) == []
    refused = await status(
        service, ws, cid, CampaignAction.ACTIVATE, ["obchod@firma.cz: SMTP login refused: 535"]
    )
    assert isinstance(refused, Refusal) and "535" in refused.message
    assert isinstance(await status(service, ws, cid, CampaignAction.ACTIVATE), CampaignStateReply)
    await due_for(bus, cid, 1)


async def test_uncertain_sends_and_unhealthy_mailboxes_show_on_the_campaign(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service)
    y = lead(1, first_name="Y")
    await bus.publish(imported(ws, cid, y), verdicts(ws, cid, [y]))
    [due] = await due_for(bus, cid, 1)
    unsure = SendUncertain(
        workspace_id=ws,
        campaign_id=cid,
        lead_id=y.lead_id,
        step=1,
        total_steps=3,
        message_id="<u@x>",
        mailbox_id=MAILBOX,
        mailbox="obchod@firma.cz",
    )
    sick = MailboxHealthChanged(
        workspace_id=ws,
        mailbox_id=MAILBOX,
        email="obchod@firma.cz",
        healthy=False,
        reason="5 failures in a row",
    )
    await bus.publish(unsure, sick)

    async def shown() -> CampaignStateReply | None:
        reply = await get(service, ws, cid)
        return reply if reply.step_counts[0].uncertain == 1 and reply.warnings else None

    reply = await eventually(shown)
    assert reply.warnings == ["mailbox obchod@firma.cz is unhealthy: 5 failures in a row"]
    preview = await handlers.preview_sequence(
        service, PreviewSequence(workspace_id=ws, campaign_id=cid, lead_id=y.lead_id)
    )
    assert isinstance(preview, SequencePreview)
    assert [(s.subject, s.body) for s in preview.steps] == [
        ("Hi Y", "Hello from us"),
        ("Re: Hi Y", "Following up, Y"),
        ("Re: Hi Y", "Last one"),
    ]
    assert due.step == 1


async def get(service: Service, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> CampaignStateReply:
    reply = await handlers.get_campaign(
        service, GetCampaign(workspace_id=workspace_id, campaign_id=campaign_id)
    )
    assert isinstance(reply, CampaignStateReply)
    return reply


async def _async(value: list[Any]) -> list[Any] | None:
    return value or None


async def test_every_stop_ends_the_sequence_but_a_reply_only_when_the_campaign_says_so(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service, stop_on_reply=False)
    leads = [lead(n, first_name=f"N{n}") for n in range(1, 7)]
    await bus.publish(imported(ws, cid, *leads), verdicts(ws, cid, leads))
    firsts = {e.lead_id: e for e in await due_for(bus, cid, 6)}
    replier, unsubscribed, failed, bounced, manual, removed = (firsts[x.lead_id] for x in leads)
    common = {"workspace_id": ws, "campaign_id": cid}
    await bus.publish(
        ReplyDetected(**common, lead_id=replier.lead_id, message_id="<r@x>", from_address=replier.email),
        LeadUnsubscribed(**common, lead_id=unsubscribed.lead_id, email=unsubscribed.email, source="link"),
        SendFailed(**common, lead_id=failed.lead_id, step=1, total_steps=3, reason="suppressed"),
        EmailBounced(
            **common, lead_id=bounced.lead_id, source="smtp", kind="hard", smtp_code=550, email=bounced.email
        ),
        LeadStatusChanged(
            **common, lead_ids=[manual.lead_id], status=LeadStatus.REPLIED, changed_by="a@b.cz"
        ),
        LeadsRemoved(**common, lead_ids=[removed.lead_id], removed_by="a@b.cz"),
    )

    async def settled() -> CampaignStateReply | None:
        reply = await get(service, ws, cid)
        first = reply.step_counts[0]
        return reply if (first.due, first.failed) == (1, 1) else None

    counts = (await eventually(settled)).step_counts[0]
    assert (counts.due, counts.failed, counts.waiting) == (1, 1, 0)  # only the replier is still due
    earlier = datetime.now(UTC) - timedelta(hours=2)
    await bus.publish(*(sent(firsts[x.lead_id], earlier) for x in leads))
    [second] = [e for e in await due_for(bus, cid, 7) if e.step == 2]
    assert second.lead_id == replier.lead_id  # a reply does not stop this campaign; the others stopped
    await quiet()
    assert len(bus.of(StepDue, cid)) == 7


async def test_settings_that_allow_more_leads_release_those_waiting(stack: Stack) -> None:
    bus, service = stack.bus, stack.service
    ws, cid = await campaign(service, send_to_unknown=False)
    pending, unknown, valid = lead(1, first_name="P"), lead(2, first_name="U"), lead(3, first_name="V")
    await bus.publish(
        imported(ws, cid, pending, unknown, valid),
        verdicts(ws, cid, [unknown], Verdict.UNKNOWN),
        verdicts(ws, cid, [valid]),
    )
    await due_for(bus, cid, 1)
    await quiet()
    assert [e.lead_id for e in bus.of(StepDue, cid)] == [valid.lead_id]
    for setting in ({"send_to_unknown": True}, {"wait_for_validation": False}):
        await handlers.update_settings(
            service,
            UpdateCampaignSettings(
                workspace_id=ws,
                campaign_id=cid,
                change=SettingsChange.model_validate(setting),
                fields_set=list(setting),
            ),
        )
    released = await due_for(bus, cid, 3)
    assert {e.lead_id for e in released} == {pending.lead_id, unknown.lead_id, valid.lead_id}
