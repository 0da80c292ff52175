"""The mailer sending on real peers: PostgreSQL, NATS, the importer answering suppression checks, and an
aiosmtpd submission server with AUTH over STARTTLS (TLS or none where said) and a self-signed certificate.

StepDue → one message with the right headers, exactly once; a 5xx at RCPT is a hard bounce; a 4xx is
retried and then sent; a suppressed address is never sent; a reply cancels the queued send, and so does the
sequencer's stop of a lead whose company replied; a paused campaign holds its sends; a mailbox's daily limit
and gap hold across two mailers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from nats.aio.client import Client

from contracts import EmailBounced, ReplyDetected, SequenceStopped
from contracts.campaign_settings import CampaignStatus
from contracts.commands import AddSuppression, ResolveSend, SendResolution, SendResolved, SuppressionReply
from contracts.events import EmailSent, MailboxHealthChanged, SendFailed, SendUncertain, StepDue
from contracts.replies import Refusal, RefusalKind
from services.importer.suppressions.handlers import add_suppression
from services.mailer.resolution import NO_SUCH_SEND, resolve_send
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.secrets import Secrets, new_secret_key
from services.runtime.service import Service
from services.runtime.thread_index import conversation_for, conversation_guid
from services.runtime.unsubscribe_tokens import UnsubscribeTokens
from tests.harness import TEST_CLIENT, temporary_nats
from tests.integration.mail_world import (
    PUBLIC_URL,
    SCHEDULE_CLOSED_NOW,
    World,
    eventually,
    mail_settings,
    running_mailers,
)
from tests.peers.submission import Certificate, SubmissionServer

SECRET = new_secret_key()


@pytest.fixture(scope="module")
def own_nats() -> Iterator[EmbeddedNats]:
    """A NATS server of this module's own: the session's carries the e2e stack, whose mailer shares these
    mailers' durable consumers (it would take their StepDue into its own database) and whose importer
    answers suppression checks from its own."""
    with temporary_nats() as server:
        yield server


@pytest.fixture
def nats_url(own_nats: EmbeddedNats) -> str:
    return own_nats.url_for(TEST_CLIENT)


@pytest.fixture(scope="module")
def certificate() -> Certificate:
    return Certificate.self_signed()


@pytest.fixture
def server(request: pytest.FixtureRequest, certificate: Certificate) -> Iterator[SubmissionServer]:
    security = getattr(request, "param", "starttls")
    peer = SubmissionServer(certificate, security=security).start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
async def mailers(
    migrated_database_url: str, nats_url: str, certificate: Certificate, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Service, list[Service]]]:
    count = getattr(request, "param", 1)
    settings = mail_settings(nats_url, migrated_database_url, SECRET)
    async with running_mailers(settings, certificate, count) as running:
        yield running


@pytest.fixture
async def world(nc: Client, mailers: tuple[Service, list[Service]], server: SubmissionServer) -> World:
    importer, running = mailers
    world = World(nc.jetstream(), running[0], importer, Secrets.from_value(SECRET), server)
    await world.listen(nc)
    return world


@pytest.mark.parametrize("server", ["starttls", "tls", "none"], indirect=True)
async def test_a_due_step_is_sent_once_with_its_headers(world: World) -> None:
    await world.add_mailbox(email="ana@firma.cz")
    await world.campaign()
    lead = uuid.uuid4()
    due = world.step_due(lead, "jan@example.test")
    await world.publish(due)
    # The sequencer's StepDue again (a redelivery or a second emission of the same step): still one send.
    await world.publish(world.step_due(lead, "jan@example.test"))
    sent = await eventually(lambda: world.events(EmailSent))
    await asyncio.sleep(1.0)
    received = world.received_by("jan@example.test")
    assert len(received) == 1 and len(await world.events(EmailSent)) == 1
    message = received[0].message
    assert message["Message-ID"] == f"<{due.event_id}@firma.cz>" == sent[0].message_id
    assert message["Subject"] == "Hi there"
    assert message["From"].addresses[0].addr_spec == "ana@firma.cz"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{PUBLIC_URL}/u/")
    token = link.rsplit("/", 1)[1]
    tokens = UnsubscribeTokens.from_secrets(world.secrets)
    assert tokens.read_token(token) == (world.workspace_id, lead)
    assert tokens.verify(token, "jan@example.test")
    assert link in message.get_content()
    assert message["In-Reply-To"] is None
    assert (sent[0].step, sent[0].mailbox, sent[0].subject_line) == (1, "ana@firma.cz", "Hi there")
    assert sent[0].recipient == "jan@example.test"
    assert world.server.logins and all(ok for _, ok in world.server.logins)

    # The follow-up threads on the first message, from the thread's mailbox.
    follow_up = world.step_due(
        lead,
        "jan@example.test",
        step=2,
        in_reply_to=sent[0].message_id,
        references=[sent[0].message_id],
        mailbox_id=sent[0].mailbox_id,
    )
    await world.publish(follow_up)
    await eventually(lambda: len(world.received_by("jan@example.test")) == 2)
    second = world.received_by("jan@example.test")[1].message
    assert second["In-Reply-To"] == sent[0].message_id
    assert second["References"] == sent[0].message_id
    assert second["Subject"] == "Re: Hi there"
    # One Outlook conversation: step 1's, named after its Message-ID (the inbox links replies by it).
    assert conversation_guid(message["Thread-Index"]) == conversation_for(sent[0].message_id)
    assert conversation_guid(second["Thread-Index"]) == conversation_for(sent[0].message_id)
    assert message["Thread-Topic"] == second["Thread-Topic"] == "Hi there"


async def test_a_5xx_at_rcpt_is_a_hard_bounce(world: World) -> None:
    world.server.rcpt_answers["gone@example.test"] = ["550 5.1.1 No such user"]
    await world.add_mailbox()
    await world.campaign()
    due = world.step_due(uuid.uuid4(), "gone@example.test")
    await world.publish(due)
    bounced = (await eventually(lambda: world.events(EmailBounced)))[0]
    assert (bounced.source, bounced.kind, bounced.smtp_code, bounced.step) == ("smtp", "hard", 550, 1)
    assert bounced.email == "gone@example.test" and bounced.message_id == f"<{due.event_id}@firma.cz>"
    assert "No such user" in bounced.diagnostic
    assert world.received_by("gone@example.test") == []
    assert set((await world.states()).values()) == {"bounced"}


async def test_a_4xx_is_retried_later_and_then_sent(world: World) -> None:
    world.server.rcpt_answers["busy@example.test"] = ["451 4.7.1 Try again later", "452 4.2.2 Still busy"]
    await world.add_mailbox()
    await world.campaign()
    await world.publish(world.step_due(uuid.uuid4(), "busy@example.test"))
    await eventually(lambda: world.events(EmailSent))
    assert len(world.received_by("busy@example.test")) == 1
    assert world.server.rcpt_answers["busy@example.test"] == []  # both refusals were met first


async def test_a_suppressed_address_is_never_sent(world: World) -> None:
    await world.add_mailbox()
    await world.campaign()
    # Suppressed after the sequencer decided the step was due: the mailer asks again before sending.
    added = await add_suppression(
        world.importer, AddSuppression(workspace_id=world.workspace_id, email="No@Example.com")
    )
    assert isinstance(added, SuppressionReply), added
    await world.publish(world.step_due(uuid.uuid4(), "no@example.com"))
    failed = (await eventually(lambda: world.events(SendFailed)))[0]
    assert failed.reason == "suppressed"
    assert world.received_by("no@example.com") == []
    assert set((await world.states()).values()) == {"failed"}


async def test_a_reply_cancels_the_queued_send(world: World) -> None:
    await world.add_mailbox()
    await world.campaign(status=CampaignStatus.PAUSED)
    lead = uuid.uuid4()
    await world.publish(world.step_due(lead, "talks@example.test"))
    await eventually(lambda: world.states())
    await world.publish(
        ReplyDetected(
            workspace_id=world.workspace_id,
            campaign_id=world.campaign_id,
            lead_id=lead,
            message_id="<reply@example.test>",
            from_address="talks@example.test",
        )
    )
    await eventually(lambda: _state_is(world, "cancelled"))
    await world.campaign(status=CampaignStatus.ACTIVE)
    await asyncio.sleep(2.0)
    assert world.received_by("talks@example.test") == []


async def test_the_sequencers_stop_of_a_company_colleague_cancels_the_colleagues_queued_send(
    world: World,
) -> None:
    await world.add_mailbox()
    await world.campaign(status=CampaignStatus.PAUSED)
    colleague, other = uuid.uuid4(), uuid.uuid4()
    await world.publish(world.step_due(colleague, "petr@firma.test"))
    await world.publish(world.step_due(other, "x@other.test"))
    await eventually(lambda: _has_sends(world, 2))
    await world.publish(
        SequenceStopped(
            workspace_id=world.workspace_id,
            campaign_id=world.campaign_id,
            lead_id=colleague,
            reason="company replied",
            replied_lead_id=uuid.uuid4(),
            domain="firma.test",
        )
    )

    async def colleague_cancelled() -> bool:
        return (await world.states()) == {(colleague, 1): "cancelled", (other, 1): "queued"}

    await eventually(colleague_cancelled)
    await world.campaign(status=CampaignStatus.ACTIVE)
    await eventually(lambda: world.received_by("x@other.test"))
    assert world.received_by("petr@firma.test") == []


async def _has_sends(world: World, count: int) -> bool:
    return len(await world.states()) == count


async def test_a_paused_campaign_holds_its_sends_until_resumed(world: World) -> None:
    await world.add_mailbox()
    await world.campaign(status=CampaignStatus.PAUSED)
    await world.publish(world.step_due(uuid.uuid4(), "later@example.test"))
    await eventually(lambda: world.states())
    await asyncio.sleep(2.0)
    assert world.received_by("later@example.test") == []
    await world.campaign(status=CampaignStatus.ACTIVE)
    await eventually(lambda: world.received_by("later@example.test"))


async def test_a_closed_window_holds_the_send(world: World) -> None:
    await world.add_mailbox()
    await world.campaign(schedule=SCHEDULE_CLOSED_NOW)
    await world.publish(world.step_due(uuid.uuid4(), "night@example.test"))
    await eventually(lambda: world.states())
    await asyncio.sleep(2.0)
    assert world.received_by("night@example.test") == []
    assert set((await world.states()).values()) == {"queued"}


@pytest.mark.parametrize("mailers", [2], indirect=True)
async def test_a_mailbox_limit_and_gap_hold_across_two_mailers(world: World) -> None:
    await world.add_mailbox(daily_limit=3, gap=1)
    await world.campaign()
    for i in range(8):
        await world.publish(world.step_due(uuid.uuid4(), f"lead{i}@example.test"))
    await eventually(lambda: len(world.server.received) >= 3, within=30)
    await asyncio.sleep(3.0)
    with world.server.lock:
        received = list(world.server.received)
    assert len(received) == 3
    sent = await world.events(EmailSent)
    assert len(sent) == 3
    times = sorted(e.occurred_at for e in sent)
    assert all(later - earlier >= timedelta(seconds=1) for earlier, later in pairwise(times))
    states = list((await world.states()).values())
    assert states.count("sent") == 3 and states.count("queued") == 5


async def _state_is(world: World, state: str) -> bool:
    return set((await world.states()).values()) == {state}


async def test_a_connection_lost_during_data_is_uncertain_and_never_sent_again(world: World) -> None:
    world.server.drop_in_data.add("cut@example.com")
    await world.add_mailbox()
    await world.campaign()
    due = world.step_due(uuid.uuid4(), "cut@example.com")
    await world.publish(due)
    uncertain = (await eventually(lambda: world.events(SendUncertain)))[0]
    assert uncertain.message_id == f"<{due.event_id}@firma.cz>" and uncertain.mailbox == "ana@firma.cz"
    await asyncio.sleep(2.0)
    assert len(world.received_by("cut@example.com")) == 1
    assert set((await world.states()).values()) == {"uncertain"}
    assert await world.events(EmailSent) == []


async def test_a_mailbox_that_keeps_failing_is_unhealthy(world: World) -> None:
    mailbox_id = await world.add_mailbox()
    world.server.password = "changed since the mailbox was added"
    await world.campaign()
    await world.publish(world.step_due(uuid.uuid4(), "wait@example.com"))
    changed = (await eventually(lambda: world.events(MailboxHealthChanged), within=40))[0]
    assert (changed.mailbox_id, changed.email, changed.healthy) == (mailbox_id, "ana@firma.cz", False)
    assert "login refused" in changed.reason and "535" in changed.reason
    assert set((await world.states()).values()) == {"queued"}
    assert world.received_by("wait@example.com") == []


async def _uncertain(world: World, address: str) -> tuple[StepDue, SendUncertain]:
    world.server.drop_in_data.add(address)
    await world.add_mailbox()
    await world.campaign()
    due = world.step_due(uuid.uuid4(), address)
    await world.publish(due)
    return due, (await eventually(lambda: world.events(SendUncertain)))[0]


def _resolve(world: World, send_id: uuid.UUID, outcome: SendResolution, **fields: Any) -> ResolveSend:
    return ResolveSend(
        workspace_id=fields.get("workspace_id", world.workspace_id), send_id=send_id, outcome=outcome
    )


async def test_an_uncertain_send_resolved_as_sent_moves_the_lead_on_and_is_never_sent(world: World) -> None:
    due, uncertain = await _uncertain(world, "cut@example.com")
    resolved = await resolve_send(world.mailer, _resolve(world, due.event_id, SendResolution.SENT))
    assert isinstance(resolved, SendResolved)
    assert (resolved.send.state, resolved.send.message_id) == ("sent", uncertain.message_id)
    assert resolved.send.sent_at is not None and resolved.send.mailbox == "ana@firma.cz"
    sent = (await eventually(lambda: world.events(EmailSent)))[0]
    assert (sent.lead_id, sent.step, sent.message_id, sent.mailbox, sent.mailbox_id, sent.recipient) == (
        due.lead_id,
        1,
        uncertain.message_id,
        "ana@firma.cz",
        uncertain.mailbox_id,
        "cut@example.com",
    )
    assert sent.occurred_at == resolved.send.sent_at  # as of when it was handed to the server
    # Resolved once: a second answer is refused with the send's state; another workspace does not see it.
    again = await resolve_send(world.mailer, _resolve(world, due.event_id, SendResolution.RESEND))
    assert isinstance(again, Refusal) and again.kind is RefusalKind.CONFLICT and "is sent" in again.message
    elsewhere = _resolve(world, due.event_id, SendResolution.SENT, workspace_id=uuid.uuid4())
    assert (await resolve_send(world.mailer, elsewhere)) == Refusal.not_found(NO_SUCH_SEND)
    unknown = _resolve(world, uuid.uuid4(), SendResolution.SENT)
    assert (await resolve_send(world.mailer, unknown)) == Refusal.not_found(NO_SUCH_SEND)
    await asyncio.sleep(1.5)
    assert len(world.received_by("cut@example.com")) == 1  # the cut delivery only: nothing sent again
    assert len(await world.events(EmailSent)) == 1


async def test_an_uncertain_send_resolved_as_resend_is_sent_again_once(world: World) -> None:
    due, _ = await _uncertain(world, "cut@example.com")
    world.server.drop_in_data.discard("cut@example.com")  # the server takes it this time
    resolved = await resolve_send(world.mailer, _resolve(world, due.event_id, SendResolution.RESEND))
    assert isinstance(resolved, SendResolved) and resolved.send.state == "queued"
    assert resolved.send.message_id is None and resolved.send.mailbox_id is None
    sent = (await eventually(lambda: world.events(EmailSent)))[0]
    assert (sent.lead_id, sent.step) == (due.lead_id, 1)
    await asyncio.sleep(1.5)
    assert len(world.received_by("cut@example.com")) == 2  # the cut one, and the one resent
    assert set((await world.states()).values()) == {"sent"}
    assert len(await world.events(EmailSent)) == 1
