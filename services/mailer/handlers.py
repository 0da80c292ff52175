"""The mailer's command handlers about mailboxes: load, decide, store, one unit of work each. Passwords are
encrypted before anything is stored and decrypted only to test a login; no reply to a workspace carries one.

Each change of a mailbox emits `MailboxChanged` in its unit of work, so the inbox reads the IMAP settings
again. It reads them with `list_imap_logins`, across the workspaces: the one reply with a password, the IMAP
one, still encrypted as stored (the services share the secret key), so none travels in a stored event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.commands import (
    CreateMailbox,
    DeleteMailbox,
    GetMailbox,
    ImapLogin,
    ImapLoginPage,
    ListImapLogins,
    ListMailboxes,
    ListSends,
    MailboxDeleted,
    MailboxPage,
    MailboxReply,
    MailboxTestReply,
    SendPage,
    ServerCheck,
    ServerOut,
    TestMailbox,
    UpdateMailbox,
)
from contracts.commands import Mailbox as MailboxOut
from contracts.events import MailboxChanged
from contracts.replies import Refusal
from services.mailer.connection_test import ConnectionTester, Login, Outcome
from services.mailer.domain import Invalid, Mailbox, Server, created, updated
from services.mailer.repository import MailboxRepository
from services.mailer.resolution import send_of
from services.mailer.sends_repository import SendRepository
from services.runtime.secrets import NotDecryptable, Secrets
from services.runtime.service import Service

NO_SUCH_MAILBOX = "No such mailbox."


@dataclass(frozen=True)
class Mailer:
    """What the handlers work with: the service (database, bus), the secrets, the login tester."""

    service: Service
    secrets: Secrets
    tester: ConnectionTester


async def create_mailbox(mailer: Mailer, command: CreateMailbox) -> MailboxReply | Refusal:
    now = datetime.now(UTC)
    imap_password = None if command.imap is None else mailer.secrets.encrypt(command.imap.password)
    outcome = created(command, mailer.secrets.encrypt(command.smtp.password), imap_password, now)
    if isinstance(outcome, Invalid):
        return Refusal.invalid(outcome.message)
    async with mailer.service.unit_of_work() as uow:
        if not await MailboxRepository.from_session(uow.session).add(outcome):
            return Refusal.conflict("That mailbox id is taken.")
        uow.emit(MailboxChanged(workspace_id=outcome.workspace_id, mailbox_id=outcome.id))
    return MailboxReply(mailbox=_out(outcome))


async def update_mailbox(mailer: Mailer, command: UpdateMailbox) -> MailboxReply | Refusal:
    def encrypted(password: str | None) -> str | None:
        return None if password is None else mailer.secrets.encrypt(password)

    async with mailer.service.unit_of_work() as uow:
        mailboxes = MailboxRepository.from_session(uow.session)
        existing = await mailboxes.get(command.workspace_id, command.mailbox_id)
        if existing is None:
            return Refusal.not_found(NO_SUCH_MAILBOX)
        outcome = updated(
            existing,
            command,
            encrypted(None if command.smtp is None else command.smtp.password),
            encrypted(None if command.imap is None else command.imap.password),
            datetime.now(UTC),
        )
        if isinstance(outcome, Invalid):
            return Refusal.invalid(outcome.message)
        await mailboxes.save(outcome)
        uow.emit(MailboxChanged(workspace_id=outcome.workspace_id, mailbox_id=outcome.id))
    return MailboxReply(mailbox=_out(outcome))


async def get_mailbox(mailer: Mailer, command: GetMailbox) -> MailboxReply | Refusal:
    async with mailer.service.sessions() as session:
        mailbox = await MailboxRepository.from_session(session).get(command.workspace_id, command.mailbox_id)
    return Refusal.not_found(NO_SUCH_MAILBOX) if mailbox is None else MailboxReply(mailbox=_out(mailbox))


async def list_mailboxes(mailer: Mailer, command: ListMailboxes) -> MailboxPage:
    async with mailer.service.sessions() as session:
        found = await MailboxRepository.from_session(session).page(
            command.workspace_id, command.limit + 1, command.after
        )
    page = found[: command.limit]
    return MailboxPage(
        items=[_out(m) for m in page], next_after=page[-1].id if len(found) > command.limit else None
    )


async def list_imap_logins(mailer: Mailer, query: ListImapLogins) -> ImapLoginPage:
    """The inbox's logins: every workspace's mailboxes with IMAP settings, a page at a time (see the module)."""
    async with mailer.service.sessions() as session:
        found = await MailboxRepository.from_session(session).with_imap(query.limit + 1, query.after)
    page = found[: query.limit]
    return ImapLoginPage(
        items=[_imap_login(m) for m in page], next_after=page[-1].id if len(found) > query.limit else None
    )


async def delete_mailbox(mailer: Mailer, command: DeleteMailbox) -> MailboxDeleted | Refusal:
    async with mailer.service.unit_of_work() as uow:
        removed = await MailboxRepository.from_session(uow.session).remove(
            command.workspace_id, command.mailbox_id
        )
        if removed:
            uow.emit(
                MailboxChanged(workspace_id=command.workspace_id, mailbox_id=command.mailbox_id, removed=True)
            )
    return MailboxDeleted() if removed else Refusal.not_found(NO_SUCH_MAILBOX)


async def test_mailbox(mailer: Mailer, command: TestMailbox) -> MailboxTestReply | Refusal:
    async with mailer.service.sessions() as session:
        mailbox = await MailboxRepository.from_session(session).get(command.workspace_id, command.mailbox_id)
    if mailbox is None:
        return Refusal.not_found(NO_SUCH_MAILBOX)
    smtp = await _try(mailer, mailbox.smtp, "SMTP", mailer.tester.smtp)
    imap = None if mailbox.imap is None else await _try(mailer, mailbox.imap, "IMAP", mailer.tester.imap)
    checks = [smtp] if imap is None else [smtp, imap]
    return MailboxTestReply(
        ok=all(c.ok for c in checks),
        smtp=ServerCheck(ok=smtp.ok, error=smtp.error),
        imap=None if imap is None else ServerCheck(ok=imap.ok, error=imap.error),
    )


async def list_sends(mailer: Mailer, command: ListSends) -> SendPage:
    """A campaign's sends (another workspace's campaign has none)."""
    async with mailer.service.sessions() as session:
        rows = await SendRepository.from_session(session).page(
            command.workspace_id, command.campaign_id, command.state, command.limit + 1, command.after
        )
    page = rows[: command.limit]
    items = [send_of(r) for r in page]
    return SendPage(items=items, next_after=page[-1].id if len(rows) > command.limit else None)


async def _try(mailer: Mailer, server: Server, which: str, attempt: Tester) -> Outcome:
    try:
        password = mailer.secrets.decrypt(server.password_encrypted)
    except NotDecryptable as exc:
        return Outcome(False, f"The {which} password cannot be read: {exc}")
    return await attempt(Login(server.host, server.port, server.username, password, server.security))


Tester = Callable[[Login], Awaitable[Outcome]]


def _server_out(server: Server) -> ServerOut:
    return ServerOut(
        host=server.host, port=server.port, username=server.username, security=server.security.value
    )


def _imap_login(mailbox: Mailbox) -> ImapLogin:
    imap = mailbox.imap
    assert imap is not None, "with_imap returns mailboxes with IMAP settings only"
    return ImapLogin(
        mailbox_id=mailbox.id,
        workspace_id=mailbox.workspace_id,
        email=mailbox.email,
        host=imap.host,
        port=imap.port,
        username=imap.username,
        password_encrypted=imap.password_encrypted,
        security=imap.security.value,
        updated_at=mailbox.updated_at,
    )


def _out(mailbox: Mailbox) -> MailboxOut:
    return MailboxOut(
        id=mailbox.id,
        email=mailbox.email,
        name=mailbox.name,
        smtp=_server_out(mailbox.smtp),
        imap=None if mailbox.imap is None else _server_out(mailbox.imap),
        daily_limit=mailbox.daily_limit,
        min_gap_seconds=mailbox.min_gap_seconds,
        created_at=mailbox.created_at,
        updated_at=mailbox.updated_at,
    )
