"""The inbox's storing and holding on the real PostgreSQL (services/inbox/reader.py, readers.py): each message
kept once per mailbox, linked to the send it names (or its sender's last send), its event in the outbox
with it, the position moved only by the replica that holds the mailbox; one replica holds a mailbox at a
time, and another takes it over once let go or once the lease runs out."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Uuid, cast, func, literal, select

from contracts import InboxMessageStored, parse_event
from contracts.commands import ImapLogin
from contracts.sending import EmailSent
from services.composition import MIGRATED_SERVICES
from services.inbox.app import create_service
from services.inbox.imap_reader import Arrived, Position
from services.inbox.reader import LeaseLost, Reading, store
from services.inbox.readers import Readers
from services.inbox.repository import InboxRepository, Mailbox
from services.inbox.tables import mailboxes, messages, outbox
from services.runtime import migrations
from services.runtime.embedded import free_port
from services.runtime.secrets import Secrets, new_secret_key
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.thread_index import conversation_for, thread_index
from services.runtime.tls import mail_tls_context

WORKSPACE = uuid.uuid4()
MAILBOX = uuid.uuid4()
SENT_ID = "<step-1.ana@leadflow.example>"


@pytest.fixture
async def service(fresh_database_url: Callable[[], str]) -> AsyncIterator[Service]:
    url = fresh_database_url()
    migrations.upgrade(url, MIGRATED_SERVICES)
    key = new_secret_key()
    # Never started: these tests drive the storing and holding themselves, on its database.
    built = create_service(Settings(nats_url="nats://127.0.0.1:1", database_url=url, secret_key=key))
    secrets = Secrets.from_value(key)
    login = ImapLogin(
        mailbox_id=MAILBOX,
        workspace_id=WORKSPACE,
        email="sales@leadflow.example",
        host="127.0.0.1",
        port=free_port(),  # nothing answers: the readers these tests start only fail and retry
        username="sales",
        password_encrypted=secrets.encrypt("pw"),
        security="none",
        updated_at=datetime.now(UTC),
    )
    async with built.unit_of_work() as uow:
        repo = InboxRepository.from_session(uow.session)
        await repo.replace_logins([login])
        await repo.record_sent([sent_event()])
    yield built
    await built.engine.dispose()


def sent_event(**changes: Any) -> EmailSent:
    fields: dict[str, Any] = {
        "workspace_id": WORKSPACE,
        "campaign_id": uuid.uuid4(),
        "lead_id": uuid.uuid4(),
        "step": 1,
        "total_steps": 2,
        "message_id": SENT_ID,
        "mailbox": "sales@leadflow.example",
        "mailbox_id": MAILBOX,
        "subject_line": "Hi Ana",
        "recipient": "Ana@Firma.cz",
    }
    return EmailSent(**(fields | changes))


def reading(service: Service, owner: str) -> Reading:
    return Reading(
        service=service,
        secrets=Secrets.from_value(new_secret_key()),
        tls_context=mail_tls_context(None),
        owner=owner,
        idle_seconds=5,
        poll_seconds=5,
    )


async def the_mailbox(service: Service) -> Mailbox:
    async with service.sessions() as session:
        (found,) = await InboxRepository.from_session(session).all()
    return found


async def hold(service: Service, owner: str) -> None:
    async with service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).hold(owner, [MAILBOX], timedelta(seconds=30))


def mail(message_id: str | None, sender: str, headers: str = "", body: str = "Sounds good.") -> bytes:
    own_id = f"Message-ID: {message_id}\r\n" if message_id else ""
    return f"From: {sender}\r\nTo: sales@leadflow.example\r\nSubject: Re: Hi\r\n{own_id}{headers}\r\n{body}\r\n".encode()


async def stored(service: Service) -> list[Any]:
    async with service.sessions() as session:
        return list(await session.execute(select(messages).order_by(messages.c.uid)))


async def events(service: Service) -> list[Any]:
    async with service.sessions() as session:
        payloads = await session.scalars(select(outbox.c.payload).order_by(outbox.c.id))
        return [parse_event(bytes(p)) for p in payloads]


async def test_messages_are_kept_once_linked_to_their_send_and_announced_with_the_position(
    service: Service,
) -> None:
    me = reading(service, "replica-a")
    await hold(service, me.owner)
    mailbox = await the_mailbox(service)
    arrived = [
        # Names the send deep in References only (a client that dropped In-Reply-To).
        Arrived(1, mail("<r1@firma.cz>", "Ana <ana@firma.cz>", f"References: <x@y> {SENT_ID} <z@y>\r\n")),
        # Names nothing: linked by its sender's address to that lead's last send.
        Arrived(2, mail("<r2@firma.cz>", "ANA@firma.cz")),
        # A stranger: kept, linked to nothing, announced to nobody.
        Arrived(3, mail("<r3@else.cz>", "someone@else.cz")),
        # No Message-ID at all: kept by its bytes.
        Arrived(4, mail(None, "someone@else.cz", body="No id here.")),
    ]
    await store(me, mailbox, arrived, Position(7, 4))

    rows = await stored(service)
    assert [(r.uid, r.kind, r.linked_by) for r in rows] == [
        (1, "reply", "message_id"),
        (2, "reply", "address"),
        (3, "reply", None),
        (4, "reply", None),
    ]
    assert rows[0].in_reply_to == SENT_ID and rows[0].raw == arrived[0].raw
    assert rows[3].message_key.startswith("sha256:")
    announced = await events(service)
    assert [e.event_type for e in announced] == ["reply_detected", "reply_detected"]
    assert {e.in_reply_to for e in announced} == {SENT_ID}
    async with service.sessions() as session:
        assert await InboxRepository.from_session(session).position(MAILBOX) == Position(7, 4)

    # The INBOX read again under a new UIDVALIDITY: the same messages, new UIDs, nothing new kept.
    again = [Arrived(a.uid + 100, a.raw) for a in arrived]
    await store(me, mailbox, again, Position(8, 104))
    assert len(await stored(service)) == 4
    assert len(await events(service)) == 2


async def test_each_message_kept_is_announced_to_the_unibox_once_its_batch_has_committed(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: list[tuple[str, InboxMessageStored, bool]] = []

    async def publish(body: bytes, subject: str) -> None:
        event = parse_event(body)
        assert isinstance(event, InboxMessageStored)
        async with service.sessions() as session:  # another connection: sees only what was committed
            found = await session.scalar(select(messages.c.id).where(messages.c.id == event.inbox_message_id))
        heard.append((subject, event, found is not None))

    monkeypatch.setattr(service.broker, "publish", publish)
    me = reading(service, "replica-a")
    await hold(service, me.owner)
    mailbox = await the_mailbox(service)
    arrived = [
        Arrived(1, mail("<r1@firma.cz>", "ana@firma.cz", f"In-Reply-To: {SENT_ID}\r\n")),
        Arrived(2, mail("<r2@else.cz>", "someone@else.cz")),  # a stranger is shown (and announced) too
    ]
    await store(me, mailbox, arrived, Position(7, 2))
    rows = await stored(service)
    assert [(subject, event.inbox_message_id, committed) for subject, event, committed in heard] == [
        (f"leadflow-unibox.{WORKSPACE}", row.id, True) for row in rows
    ]
    linked, stranger = (event for _, event, _ in heard)
    assert (linked.mailbox_id, linked.kind, linked.lead_id) == (MAILBOX, "reply", rows[0].lead_id)
    assert linked.campaign_id == rows[0].campaign_id is not None
    assert (stranger.lead_id, stranger.campaign_id) == (None, None)

    # Read again: nothing new kept, nothing announced; a failed announcement never fails the batch.
    await store(me, mailbox, [Arrived(a.uid + 100, a.raw) for a in arrived], Position(8, 102))
    assert len(heard) == 2

    async def broken(body: bytes, subject: str) -> None:
        raise ConnectionError("NATS is away")

    monkeypatch.setattr(service.broker, "publish", broken)
    await store(me, mailbox, [Arrived(3, mail("<r3@else.cz>", "someone@else.cz"))], Position(8, 103))
    assert len(await stored(service)) == 3


async def test_a_replica_that_no_longer_holds_the_mailbox_keeps_nothing(service: Service) -> None:
    await hold(service, "replica-a")
    mailbox = await the_mailbox(service)
    late = reading(service, "replica-b")
    with pytest.raises(LeaseLost):
        await store(late, mailbox, [Arrived(1, mail("<r1@firma.cz>", "ana@firma.cz"))], Position(7, 1))
    assert await stored(service) == []
    assert await events(service) == []


async def test_one_replica_reads_a_mailbox_and_another_takes_over_when_it_lets_go_or_its_lease_runs_out(
    service: Service,
) -> None:
    first = Readers(reading(service, "replica-a"), lease_seconds=2, refresh_seconds=3600)
    second = Readers(reading(service, "replica-b"), lease_seconds=2, refresh_seconds=3600)
    try:
        await first.hold()
        await second.hold()
        assert list(first.running) == [MAILBOX] and second.running == {}

        # replica-a stops renewing (hung, or gone without letting go): its lease runs out.
        await asyncio.sleep(2.5)
        await second.hold()
        assert list(second.running) == [MAILBOX]
        await first.hold()  # replica-a comes back: it finds the mailbox held and stops its reader
        assert first.running == {}

        # replica-b shuts down and lets go: replica-a takes the mailbox at once.
        await second.stop()
        await first.hold()
        assert list(first.running) == [MAILBOX]
    finally:
        await first.stop()
        await second.stop()
    async with service.sessions() as session:
        owner = await session.scalar(select(mailboxes.c.lease_owner).where(mailboxes.c.id == MAILBOX))
    assert owner is None


async def test_copies_of_the_mailboxs_own_sends_answer_nothing(service: Service) -> None:
    """A BCC to itself, or a server that files sent mail in the INBOX: threaded like a reply, but ours."""
    me = reading(service, "replica-a")
    await hold(service, me.owner)
    mailbox = await the_mailbox(service)
    async with service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).record_sent(
            [sent_event(message_id="<step-2.jana@leadflow.example>", step=2, recipient="jana@firma.cz")]
        )
    follow_up = f"In-Reply-To: {SENT_ID}\r\nReferences: {SENT_ID}\r\n"
    arrived = [
        # A step 2 of ours, sent under another From (an alias): its Message-ID is a send of ours.
        Arrived(1, mail("<step-2.jana@leadflow.example>", "Alias <other@leadflow.example>", follow_up)),
        # Our own step 2, from the mailbox's address, threaded on step 1.
        Arrived(2, mail("<step-2.ana@leadflow.example>", "Sales <SALES@leadflow.example>", follow_up)),
    ]
    await store(me, mailbox, arrived, Position(7, 2))
    assert [(r.uid, r.lead_id, r.linked_by) for r in await stored(service)] == [
        (1, None, None),
        (2, None, None),
    ]
    assert await events(service) == []


async def test_a_reply_that_lost_its_thread_headers_is_linked_by_its_thread_index(service: Service) -> None:
    """Outlook keeps our Thread-Index's header block in its reply: a lead's assistant answering from their
    own address, with no In-Reply-To or References, still names the thread, and the reply answers the
    lead's last send in it. Message-IDs named come first; the Thread-Index before the sender's address."""
    me = reading(service, "replica-a")
    await hold(service, me.owner)
    mailbox = await the_mailbox(service)
    lead, campaign = uuid.uuid4(), uuid.uuid4()
    first, second = "<t1.petr@leadflow.example>", "<t2.petr@leadflow.example>"
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    thread = {"lead_id": lead, "campaign_id": campaign, "recipient": "petr@firma.cz"}
    async with service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).record_sent(
            [
                sent_event(message_id=first, step=1, occurred_at=start, **thread),
                sent_event(message_id=second, step=2, occurred_at=start + timedelta(days=3), **thread),
            ]
        )
    # Outlook answering step 2: its index (one child block) and one child block of its own.
    answered = base64.b64decode(thread_index(first, 1)) + bytes.fromhex("0000c0ffee")
    index = f"Thread-Index: {base64.b64encode(answered).decode()}\r\n"
    arrived = [
        Arrived(1, mail("<a1@firma.cz>", "Asistentka <asistentka@firma.cz>", index)),
        # Shaped as a Thread-Index, a conversation of someone else's: not ours.
        Arrived(
            2,
            mail("<a2@else.cz>", "someone@else.cz", "Thread-Index: AQHbsVWwIA6VeMCiujFaOUb+YRZuirN7IEUq\r\n"),
        ),
        # Not a Thread-Index at all: nothing, and no error.
        Arrived(3, mail("<a3@else.cz>", "someone@else.cz", "Thread-Index: =?x?q?garbage?= <*>\r\n")),
        # A Message-ID of ours named: it decides, whatever the Thread-Index says.
        Arrived(4, mail("<a4@firma.cz>", "asistentka@firma.cz", f"In-Reply-To: {SENT_ID}\r\n{index}")),
        # From the other lead's address: the Thread-Index decides before the address.
        Arrived(5, mail("<a5@firma.cz>", "ana@firma.cz", index)),
    ]
    await store(me, mailbox, arrived, Position(7, 5))

    rows = await stored(service)
    assert [(r.uid, r.lead_id, r.in_reply_to, r.step, r.linked_by) for r in rows] == [
        (1, lead, second, 2, "thread_index"),
        (2, None, None, None, None),
        (3, None, None, None, None),
        (4, rows[3].lead_id, SENT_ID, 1, "message_id"),
        (5, lead, second, 2, "thread_index"),
    ]
    assert rows[3].lead_id not in (None, lead)
    announced = await events(service)
    assert [(e.event_type, e.lead_id, e.in_reply_to, e.from_address) for e in announced] == [
        ("reply_detected", lead, second, "asistentka@firma.cz"),
        ("reply_detected", rows[3].lead_id, SENT_ID, "asistentka@firma.cz"),
        ("reply_detected", lead, second, "ana@firma.cz"),
    ]
    # The conversation each send is indexed by is PostgreSQL's MD5 of its Message-ID, as inbox_0002 fills
    # it in for sends indexed before it.
    async with service.sessions() as session:
        assert await session.scalar(select(cast(func.md5(literal(first)), Uuid))) == conversation_for(first)
