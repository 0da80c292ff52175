"""Wiring of the mailer service. For now it owns the workspaces' sender mailboxes (sending comes next)."""

from __future__ import annotations

from contracts.commands import (
    CreateMailbox,
    DeleteMailbox,
    GetMailbox,
    ListMailboxes,
    MailboxDeleted,
    MailboxPage,
    MailboxReply,
    MailboxTestReply,
    TestMailbox,
    UpdateMailbox,
)
from contracts.replies import Refusal
from services.mailer import handlers
from services.mailer.connection_test import ConnectionTester
from services.mailer.handlers import Mailer
from services.mailer.tables import metadata
from services.runtime.secrets import Secrets, new_secret_key
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.tls import mail_tls_context


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    service = Service(name="mailer", metadata=metadata, settings=settings, for_docs=for_docs)
    # The AsyncAPI document runs no handler, so it needs no configured secret; a service does (it refuses
    # to start without LEADFLOW_SECRET_KEY, saying how to set it).
    secrets = Secrets.from_value(new_secret_key()) if for_docs else Secrets.from_settings(settings)
    mailer = Mailer(service, secrets, ConnectionTester(tls_context=mail_tls_context(settings.mail_ca_file)))

    @service.answers(
        "create_mailbox",
        "Add a sender mailbox (its passwords encrypted at rest).",
    )
    async def create_mailbox(cmd: CreateMailbox) -> MailboxReply | Refusal:
        return await handlers.create_mailbox(mailer, cmd)

    @service.answers(
        "update_mailbox",
        "Change a mailbox's settings; a password only when one is given.",
    )
    async def update_mailbox(cmd: UpdateMailbox) -> MailboxReply | Refusal:
        return await handlers.update_mailbox(mailer, cmd)

    @service.answers(
        "get_mailbox",
        "One of the workspace's mailboxes (never its passwords).",
    )
    async def get_mailbox(cmd: GetMailbox) -> MailboxReply | Refusal:
        return await handlers.get_mailbox(mailer, cmd)

    @service.answers(
        "list_mailboxes",
        "The workspace's mailboxes, a page at a time.",
    )
    async def list_mailboxes(cmd: ListMailboxes) -> MailboxPage:
        return await handlers.list_mailboxes(mailer, cmd)

    @service.answers(
        "delete_mailbox",
        "Remove a mailbox.",
    )
    async def delete_mailbox(cmd: DeleteMailbox) -> MailboxDeleted | Refusal:
        return await handlers.delete_mailbox(mailer, cmd)

    @service.answers(
        "test_mailbox",
        "Connect and log in to the mailbox's SMTP (and IMAP) server; say what failed, in words.",
    )
    async def test_mailbox(cmd: TestMailbox) -> MailboxTestReply | Refusal:
        return await handlers.test_mailbox(mailer, cmd)

    return service
