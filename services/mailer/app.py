"""Wiring of the mailer service: the workspaces' sender mailboxes (commands, each change announced by
MailboxChanged; the inbox's IMAP logins across workspaces), and sending: StepDue queues a send, the send
loop delivers it within every limit and announces the outcome (runner.py, sender.py)."""

from __future__ import annotations

from contracts import EmailBounced
from contracts.commands import (
    CreateMailbox,
    DeleteMailbox,
    GetMailbox,
    ImapLoginPage,
    ListImapLogins,
    ListMailboxes,
    ListSends,
    MailboxDeleted,
    MailboxPage,
    MailboxReply,
    MailboxTestReply,
    ResolveSend,
    SendPage,
    SendResolved,
    TestMailbox,
    UpdateMailbox,
)
from contracts.events import EmailSent, MailboxChanged, MailboxHealthChanged, SendFailed, SendUncertain
from contracts.replies import Refusal
from services.mailer import handlers, resolution
from services.mailer.connection_test import ConnectionTester
from services.mailer.handlers import Mailer
from services.mailer.runner import SEQUENCE_STOP_EVENTS, STOP_EVENTS, MailRunner
from services.mailer.smtp_process import SmtpProcess
from services.mailer.tables import metadata
from services.runtime.secrets import Secrets, new_secret_key
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.tls import mail_tls_context

# StepDue arrive in bursts (a campaign's daily batch): queued 500 to a transaction rather than 100.
STEP_DUE_BATCH = 500


def create_service(settings: Settings, *, for_docs: bool = False, smtp: SmtpProcess | None = None) -> Service:
    service = Service(name="mailer", metadata=metadata, settings=settings, for_docs=for_docs)
    # The AsyncAPI document runs no handler, so it needs no configured secret; a service does (it refuses
    # to start without LEADFLOW_SECRET_KEY, saying how to set it).
    secrets = Secrets.from_value(new_secret_key()) if for_docs else Secrets.from_settings(settings)
    tls = mail_tls_context(settings.mail_ca_file)
    mailer = Mailer(service, secrets, ConnectionTester(tls_context=tls))
    service.emits(EmailSent, EmailBounced, SendUncertain, SendFailed, MailboxHealthChanged, MailboxChanged)
    runner = MailRunner(service, secrets, smtp or SmtpProcess(ca_file=settings.mail_ca_file))
    service.consume(
        "step_due",
        runner.on_step_due,
        durable="mailer-step-due",
        batch_handler=runner.on_steps_due,
        batch_size=STEP_DUE_BATCH,
    )
    service.consume("campaign_updated", runner.on_campaign_updated, durable="mailer-campaigns")
    service.consume(list(STOP_EVENTS), runner.on_stop_event, durable="mailer-stops")
    service.consume(SEQUENCE_STOP_EVENTS, runner.on_stop_event, durable="mailer-sequence-stops")
    service.on_startup(runner.start)
    service.on_shutdown(runner.stop)

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
        "list_imap_logins",
        "For the inbox: every workspace's mailboxes with IMAP settings, the password encrypted as stored.",
    )
    async def list_imap_logins(query: ListImapLogins) -> ImapLoginPage:
        return await handlers.list_imap_logins(mailer, query)

    @service.answers(
        "test_mailbox",
        "Connect and log in to the mailbox's SMTP (and IMAP) server; say what failed, in words.",
    )
    async def test_mailbox(cmd: TestMailbox) -> MailboxTestReply | Refusal:
        return await handlers.test_mailbox(mailer, cmd)

    @service.answers(
        "list_sends",
        "A campaign's sends (queued, sent, uncertain, bounced, failed, cancelled), a page at a time.",
    )
    async def list_sends(cmd: ListSends) -> SendPage:
        return await handlers.list_sends(mailer, cmd)

    @service.answers(
        "resolve_send",
        "Settle an uncertain send by hand: it was sent (its EmailSent moves the lead on), or send it again.",
    )
    async def resolve_send(cmd: ResolveSend) -> SendResolved | Refusal:
        return await resolution.resolve_send(service, cmd)

    return service
