"""What the mailer gives the inbox, on the real PostgreSQL and NATS: `list_imap_logins` answered on the bus
across the workspaces, a page at a time, each IMAP password encrypted as stored; and a `MailboxChanged`
published through the outbox for each mailbox created, changed or removed, and for nothing refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy import select

from contracts import parse_event, subjects
from contracts.commands import (
    CreateMailbox,
    DeleteMailbox,
    ImapLogin,
    ImapLoginPage,
    ListImapLogins,
    MailboxDeleted,
    MailboxReply,
    ServerIn,
    ServerPatch,
    UpdateMailbox,
)
from contracts.events import MailboxChanged
from contracts.replies import Refusal
from services.mailer import handlers
from services.mailer.app import create_service as create_mailer
from services.mailer.connection_test import ConnectionTester
from services.mailer.handlers import Mailer
from services.mailer.tables import mailboxes
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.secrets import Secrets, new_secret_key
from tests.harness import TEST_CLIENT, temporary_nats
from tests.integration.mail_world import eventually, mail_settings

SECRET = new_secret_key()


@pytest.fixture(scope="module")
def own_nats() -> Iterator[EmbeddedNats]:
    """A NATS server of this module's own: on the session's, the e2e stack's mailer is in the same queue
    group and would answer `list_imap_logins` from its own database."""
    with temporary_nats() as server:
        yield server


@pytest.fixture
def nats_url(own_nats: EmbeddedNats) -> str:
    return own_nats.url_for(TEST_CLIENT)


@pytest.fixture
async def mailer(migrated_database_url: str, nats_url: str) -> AsyncIterator[Mailer]:
    service = create_mailer(mail_settings(nats_url, migrated_database_url, SECRET))
    async with service.running():
        yield Mailer(service, Secrets.from_value(SECRET), ConnectionTester())


def smtp() -> ServerIn:
    return ServerIn(
        host="smtp.firma.cz", port=587, username="ana", password="smtp secret", security="starttls"
    )


async def create(
    mailer: Mailer, workspace_id: uuid.UUID, imap_password: str | None, **fields: Any
) -> uuid.UUID:
    imap = (
        None
        if imap_password is None
        else ServerIn(
            host="imap.firma.cz", port=993, username="ana@firma.cz", password=imap_password, security="tls"
        )
    )
    command = CreateMailbox(
        workspace_id=workspace_id,
        mailbox_id=fields.pop("mailbox_id", uuid.uuid4()),
        email="ana@firma.cz",
        name="Ana",
        smtp=smtp(),
        imap=imap,
        **fields,
    )
    reply = await handlers.create_mailbox(mailer, command)
    assert isinstance(reply, MailboxReply), reply
    return command.mailbox_id


async def ask_logins(nc: Client, limit: int, after: uuid.UUID | None = None) -> ImapLoginPage:
    """The inbox's question, over the bus as the inbox asks it."""
    query = ListImapLogins(limit=limit, after=after)
    reply = await nc.request(
        subjects.command_subject("mailer", "list_imap_logins"), query.model_dump_json().encode(), timeout=10
    )
    return ImapLoginPage.model_validate_json(reply.data)


async def every_login(nc: Client, limit: int) -> list[ImapLogin]:
    """Every page, each no longer than `limit`, each continuing after the last id of the one before."""
    logins: list[ImapLogin] = []
    page = await ask_logins(nc, limit)
    while True:
        assert len(page.items) <= limit
        logins.extend(page.items)
        if page.next_after is None:
            return logins
        assert len(page.items) == limit and page.next_after == page.items[-1].mailbox_id
        page = await ask_logins(nc, limit, page.next_after)


async def stored_imap_password(mailer: Mailer, mailbox_id: uuid.UUID) -> str | None:
    async with mailer.service.sessions() as session:
        stored: str | None = await session.scalar(
            select(mailboxes.c.imap_password_encrypted).where(mailboxes.c.id == mailbox_id)
        )
    return stored


async def test_imap_logins_page_through_every_workspace_with_the_password_as_stored(
    mailer: Mailer, nc: Client
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    given = {
        await create(mailer, workspace_id, password): (workspace_id, password)
        for workspace_id, password in [
            (first, "first's IMAP secret"),
            (second, "second's IMAP secret"),
            (second, "another IMAP secret"),
        ]
    }
    without_imap = await create(mailer, first, None)
    logins = await every_login(nc, limit=2)  # the database may hold other tests' mailboxes too
    ids = [login.mailbox_id for login in logins]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    ours = {login.mailbox_id: login for login in logins if login.workspace_id in (first, second)}
    assert set(ours) == set(given) and without_imap not in ids
    secrets = Secrets.from_value(SECRET)
    for mailbox_id, (workspace_id, password) in given.items():
        login = ours[mailbox_id]
        assert (login.workspace_id, login.email, login.host, login.port, login.username, login.security) == (
            workspace_id,
            "ana@firma.cz",
            "imap.firma.cz",
            993,
            "ana@firma.cz",
            "tls",
        )
        assert password not in login.password_encrypted
        assert login.password_encrypted == await stored_imap_password(mailer, mailbox_id)
        assert secrets.decrypt(login.password_encrypted) == password
    # After the last id there is nothing more.
    assert await ask_logins(nc, 10, max(ids)) == ImapLoginPage()


async def test_a_changed_imap_login_is_listed_as_changed_and_a_removed_one_not_at_all(
    mailer: Mailer, nc: Client
) -> None:
    workspace_id = uuid.uuid4()
    changed = await create(mailer, workspace_id, "old secret")
    dropped = await create(mailer, workspace_id, "dropped secret")
    patch = ServerPatch(password="new secret", port=143, security="starttls")
    for command in (
        UpdateMailbox(workspace_id=workspace_id, mailbox_id=changed, imap=patch),
        UpdateMailbox(workspace_id=workspace_id, mailbox_id=dropped, remove_imap=True),
    ):
        assert isinstance(await handlers.update_mailbox(mailer, command), MailboxReply)
    ours = [login for login in await every_login(nc, limit=500) if login.workspace_id == workspace_id]
    assert [(login.mailbox_id, login.port, login.security) for login in ours] == [(changed, 143, "starttls")]
    assert Secrets.from_value(SECRET).decrypt(ours[0].password_encrypted) == "new secret"


async def test_each_change_of_a_mailbox_is_announced_and_nothing_refused(mailer: Mailer, nc: Client) -> None:
    workspace_id = uuid.uuid4()
    heard: list[Any] = []

    async def keep(msg: Msg) -> None:
        heard.append(parse_event(msg.data))

    await nc.subscribe(subjects.event_subject(workspace_id, "mailbox_changed"), cb=keep)
    mailbox_id = await create(mailer, workspace_id, None)
    await eventually(lambda: len(heard) == 1)
    renamed = UpdateMailbox(workspace_id=workspace_id, mailbox_id=mailbox_id, name="Ana B.")
    assert isinstance(await handlers.update_mailbox(mailer, renamed), MailboxReply)
    await eventually(lambda: len(heard) == 2)
    deleted = DeleteMailbox(workspace_id=workspace_id, mailbox_id=mailbox_id)
    assert isinstance(await handlers.delete_mailbox(mailer, deleted), MailboxDeleted)
    await eventually(lambda: len(heard) == 3)
    assert all(isinstance(e, MailboxChanged) for e in heard), heard
    assert [(e.workspace_id, e.mailbox_id, e.removed) for e in heard] == [
        (workspace_id, mailbox_id, False),
        (workspace_id, mailbox_id, False),
        (workspace_id, mailbox_id, True),
    ]

    # Refused: an id taken, settings refused, a mailbox that is not there (any more). Nothing announced.
    taken = await create(mailer, workspace_id, None)
    await eventually(lambda: len(heard) == 4)
    refused = [
        await handlers.create_mailbox(
            mailer,
            CreateMailbox(
                workspace_id=workspace_id, mailbox_id=taken, email="b@firma.cz", name="B", smtp=smtp()
            ),
        ),
        await handlers.update_mailbox(
            mailer, UpdateMailbox(workspace_id=workspace_id, mailbox_id=taken, daily_limit=0)
        ),
        await handlers.update_mailbox(mailer, renamed),
        await handlers.delete_mailbox(mailer, deleted),
    ]
    assert all(isinstance(reply, Refusal) for reply in refused), refused
    await asyncio.sleep(1.5)
    assert [(e.mailbox_id, e.removed) for e in heard[3:]] == [(taken, False)]
