"""Where reading a mailbox stands (services/inbox/mailbox_reading.py, the inbox's `mailbox_reading`) on the real
PostgreSQL: `starting` until a replica holding the mailbox has been answered by its server, `reading` then,
`failing` with the error in words while one is recorded, `starting` again once no replica holds it; the
messages stored from it counted; another workspace's mailbox never shown. And the reader's bookkeeping
against a real dovecot: a refused login recorded as `failing` with the server's refusal, the right password
clearing it, and each wake from IDLE that finds nothing new refreshing `checked_at`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aioimaplib import aioimaplib
from sqlalchemy import update

from contracts.commands import GetMailboxReading, ImapLogin, MailboxReading
from services.composition import MIGRATED_SERVICES
from services.inbox.app import create_service
from services.inbox.imap_reader import Arrived, Position
from services.inbox.mailbox_reading import mailbox_reading
from services.inbox.reader import Reading, read_mailbox, store
from services.inbox.repository import InboxRepository, Mailbox
from services.inbox.tables import mailboxes
from services.runtime import migrations
from services.runtime.embedded import free_port
from services.runtime.secrets import Secrets, new_secret_key
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.harness import eventually, require_installed
from tests.peers.dovecot import DOVECOT, Dovecot
from tests.peers.submission import Certificate

WORKSPACE = uuid.uuid4()
OTHER_WORKSPACE = uuid.uuid4()
MAILBOX = uuid.uuid4()
OTHER_MAILBOX = uuid.uuid4()
OWNER = "replica-a"
KEY = new_secret_key()


@pytest.fixture(scope="module")
def certificate() -> Certificate:
    return Certificate.self_signed()


@pytest.fixture
async def service(fresh_database_url: Callable[[], str]) -> AsyncIterator[Service]:
    url = fresh_database_url()
    migrations.upgrade(url, MIGRATED_SERVICES)
    # Never started: these tests drive the reading themselves, on its database.
    built = create_service(Settings(nats_url="nats://127.0.0.1:1", database_url=url, secret_key=KEY))
    yield built
    await built.engine.dispose()


def login(
    service: Service,
    *,
    mailbox_id: uuid.UUID = MAILBOX,
    workspace_id: uuid.UUID = WORKSPACE,
    port: int | None = None,
    username: str = "sales",
    password: str = "pw",
) -> ImapLogin:
    return ImapLogin(
        mailbox_id=mailbox_id,
        workspace_id=workspace_id,
        email=f"{mailbox_id.hex[:8]}@leadflow.example",
        host="127.0.0.1",
        port=free_port() if port is None else port,
        username=username,
        password_encrypted=Secrets.from_value(KEY).encrypt(password),
        security="none",
        updated_at=datetime.now(UTC),
    )


def reading(service: Service, certificate: Certificate, *, idle_seconds: float = 5) -> Reading:
    return Reading(
        service=service,
        secrets=Secrets.from_value(KEY),
        tls_context=certificate.client_context(),
        owner=OWNER,
        idle_seconds=idle_seconds,
        poll_seconds=idle_seconds,
    )


async def replace(service: Service, *logins: ImapLogin) -> list[Mailbox]:
    async with service.unit_of_work() as uow:
        repo = InboxRepository.from_session(uow.session)
        await repo.replace_logins(logins)
        await repo.hold(OWNER, [one.mailbox_id for one in logins], timedelta(seconds=30))
    async with service.sessions() as session:
        return await InboxRepository.from_session(session).all()


async def state(
    service: Service, *ids: uuid.UUID, workspace_id: uuid.UUID = WORKSPACE
) -> list[MailboxReading]:
    asked = GetMailboxReading(workspace_id=workspace_id, mailbox_ids=list(ids) if ids else None)
    return (await mailbox_reading(service, asked)).items


async def one(service: Service) -> MailboxReading:
    (found,) = await state(service, MAILBOX)
    return found


async def test_starting_then_reading_then_failing_then_reading_then_starting_once_nobody_holds_it(
    service: Service,
) -> None:
    # The inbox has not heard of it yet: asked for by id, it is starting, nothing stored.
    (unknown,) = await state(service, MAILBOX)
    assert unknown == MailboxReading(
        mailbox_id=MAILBOX, state="starting", error=None, checked_at=None, messages=0, last_message_at=None
    )
    await replace(service, login(service))
    # Held, but its server has not answered yet.
    assert (await one(service)).state == "starting"

    async with service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).checked(MAILBOX, OWNER)
    connected = await one(service)
    assert (connected.state, connected.error) == ("reading", None)
    assert connected.checked_at is not None and connected.checked_at.tzinfo is not None

    async with service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).record_error(
            MAILBOX,
            OWNER,
            "IMAP login refused at 127.0.0.1:993: [AUTHENTICATIONFAILED] Authentication failed.",
        )
    failing = await one(service)
    assert failing.state == "failing"
    assert (
        failing.error == "IMAP login refused at 127.0.0.1:993: [AUTHENTICATIONFAILED] Authentication failed."
    )
    assert failing.checked_at == connected.checked_at  # when it last worked

    # Another replica's check counts for nothing: only the holder's does.
    async with service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).checked(MAILBOX, "replica-b")
    assert (await one(service)).state == "failing"
    async with service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).checked(MAILBOX, OWNER)
    again = await one(service)
    assert (again.state, again.error) == ("reading", None)
    assert again.checked_at is not None and again.checked_at > connected.checked_at

    # Its replica is gone and the lease ran out: nobody reads it.
    async with service.unit_of_work() as uow:
        await uow.session.execute(
            update(mailboxes).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await one(service)).state == "starting"
    async with service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).let_go(OWNER, [MAILBOX])
    assert (await one(service)).state == "starting"


async def test_the_messages_stored_are_counted_and_another_workspaces_mailbox_is_never_shown(
    service: Service, certificate: Certificate
) -> None:
    other = login(service, mailbox_id=OTHER_MAILBOX, workspace_id=OTHER_WORKSPACE)
    (mailbox,) = [m for m in await replace(service, login(service), other) if m.id == MAILBOX]
    me = reading(service, certificate)
    raws = [
        f"From: ana@firma.cz\r\nSubject: Re: Hi\r\nMessage-ID: <r{n}@firma.cz>\r\n\r\nYes {n}.\r\n".encode()
        for n in range(3)
    ]
    await store(me, mailbox, [Arrived(n + 1, raw) for n, raw in enumerate(raws)], Position(7, 3))
    async with service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).record_error(
            OTHER_MAILBOX, OWNER, "the other's secret"
        )

    read = await one(service)
    assert (read.state, read.messages) == ("reading", 3)
    assert read.last_message_at is not None and read.checked_at is not None
    assert abs(read.last_message_at - read.checked_at) < timedelta(seconds=5)

    # Without ids: every mailbox of the workspace the inbox reads, its own only.
    assert [r.mailbox_id for r in await state(service)] == [MAILBOX]
    # Another workspace's mailbox asked for by id: as if unknown (nothing of it answered), each id once.
    foreign, mine = await state(service, OTHER_MAILBOX, MAILBOX, OTHER_MAILBOX)
    assert foreign == MailboxReading(
        mailbox_id=OTHER_MAILBOX,
        state="starting",
        error=None,
        checked_at=None,
        messages=0,
        last_message_at=None,
    )
    assert mine == read
    (theirs,) = await state(service, workspace_id=OTHER_WORKSPACE)
    assert (theirs.state, theirs.error, theirs.messages) == ("failing", "the other's secret", 0)


# -- the reader's bookkeeping against a real dovecot ----------------------------------------------------------


@pytest.fixture
def dovecot(certificate: Certificate) -> Iterator[Dovecot]:
    require_installed(Path(DOVECOT), "apt-get install dovecot-imapd")
    peer = Dovecot(certificate).start()
    try:
        yield peer
    finally:
        peer.stop()


@contextlib.asynccontextmanager
async def reader(me: Reading, mailbox: Mailbox) -> AsyncIterator[None]:
    task = asyncio.ensure_future(read_mailbox(me, mailbox))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_refused_login_shows_failing_in_the_servers_words_and_the_right_password_clears_it(
    service: Service, certificate: Certificate, dovecot: Dovecot
) -> None:
    me = reading(service, certificate, idle_seconds=0.5)
    wrong = login(service, port=dovecot.port, username=dovecot.username, password="wrong horse")
    (mailbox,) = await replace(service, wrong)
    async with reader(me, mailbox):

        async def failing() -> MailboxReading | None:
            found = await one(service)
            return found if found.state == "failing" else None

        refused = await eventually(failing, within=20)
    assert refused.error is not None
    assert refused.error.startswith(f"IMAP login refused at 127.0.0.1:{dovecot.port}: "), refused.error
    assert "authentication failed" in refused.error.lower(), refused.error
    assert refused.checked_at is None

    # The password put right (a MailboxChanged makes the inbox read the settings and start a new reader).
    (mailbox,) = await replace(
        service, login(service, port=dovecot.port, username=dovecot.username, password=dovecot.password)
    )
    async with reader(me, mailbox):

        async def reading_it() -> MailboxReading | None:
            found = await one(service)
            return found if found.state == "reading" else None

        fixed = await eventually(reading_it, within=20)
        assert (fixed.error, fixed.messages) == (None, 0)
        assert fixed.checked_at is not None

        # No mail arrives: each wake from IDLE that finds nothing still says when the server answered.
        async def checked_later() -> MailboxReading | None:
            found = await one(service)
            assert fixed.checked_at is not None
            return found if found.checked_at and found.checked_at > fixed.checked_at else None

        later = await eventually(checked_later, within=10)
        assert (later.state, later.messages) == ("reading", 0)

        # Mail arrives: it is counted.
        client = aioimaplib.IMAP4("127.0.0.1", dovecot.port, timeout=5)
        await client.wait_hello_from_server()
        await client.login(dovecot.username, dovecot.password)
        raw = b"From: ana@firma.cz\r\nSubject: Re: Hi\r\nMessage-ID: <r@firma.cz>\r\n\r\nYes.\r\n"
        assert (await client.append(raw, mailbox="INBOX")).result == "OK"
        await client.logout()

        async def counted() -> MailboxReading | None:
            found = await one(service)
            return found if found.messages == 1 else None

        arrived = await eventually(counted, within=10)
    assert arrived.state == "reading" and arrived.last_message_at is not None
