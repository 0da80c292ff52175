"""Wiring of the inbox service: it reads every sender mailbox with IMAP settings (readers.py, reader.py),
keeps each message with its decision (classify.py) and announces replies, auto-replies and bounces
(effects.py). It indexes the mailer's EmailSent to link what comes back to the send it answers, and answers
the Unibox's commands (unibox.py) and where reading each mailbox stands (mailbox_reading.py)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence

from contracts import (
    AutoReplyDetected,
    EmailBounced,
    EmailSent,
    InboundReclassified,
    InboxMessageStored,
    ReplyDetected,
)
from contracts.commands import (
    GetInboxMessage,
    GetMailboxReading,
    InboxMessageMarked,
    InboxMessagePage,
    InboxMessageReply,
    ListInboxMessages,
    MailboxReadingReply,
    MarkInboxMessage,
    ReclassifyInboxMessage,
)
from contracts.replies import Refusal
from services.inbox import unibox
from services.inbox.mailbox_reading import mailbox_reading
from services.inbox.reader import Reading
from services.inbox.readers import Readers
from services.inbox.repository import InboxRepository
from services.inbox.tables import metadata
from services.runtime.secrets import Secrets, new_secret_key
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.tls import mail_tls_context
from services.runtime.unit_of_work import UnitOfWork


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    service = Service(name="inbox", metadata=metadata, settings=settings, for_docs=for_docs)
    secrets = Secrets.from_value(new_secret_key()) if for_docs else Secrets.from_settings(settings)
    reading = Reading(
        service=service,
        secrets=secrets,
        tls_context=mail_tls_context(settings.mail_ca_file),
        # Which replica holds a mailbox (shown with its lease): host, process and a random part.
        owner=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        idle_seconds=settings.inbox_idle_seconds,
        poll_seconds=settings.inbox_poll_seconds,
    )
    readers = Readers(
        reading, lease_seconds=settings.inbox_lease_seconds, refresh_seconds=settings.inbox_refresh_seconds
    )
    service.emits(ReplyDetected, AutoReplyDetected, EmailBounced, InboundReclassified, InboxMessageStored)

    async def on_sent(uow: UnitOfWork, event: EmailSent) -> None:
        await InboxRepository.from_session(uow.session).record_sent([event])

    async def on_sent_batch(uow: UnitOfWork, events: Sequence[EmailSent]) -> None:
        await InboxRepository.from_session(uow.session).record_sent(events)

    service.consume("email_sent", on_sent, durable="inbox-sent", batch_handler=on_sent_batch)
    service.consume("mailbox_changed", readers.on_mailbox_changed, durable="inbox-mailboxes")
    service.on_startup(readers.start)
    service.on_shutdown(readers.stop)
    answer_unibox_commands(service)

    @service.answers(
        "mailbox_reading",
        "Where reading the workspace's mailboxes stands: reading, failing (with the error) or starting; when "
        "each server last answered; the messages stored from each.",
    )
    async def reading_state(cmd: GetMailboxReading) -> MailboxReadingReply | Refusal:
        return await mailbox_reading(service, cmd)

    return service


def answer_unibox_commands(service: Service) -> None:
    @service.answers("list_messages", "The workspace's messages read, newest first, a page at a time.")
    async def list_messages(cmd: ListInboxMessages) -> InboxMessagePage | Refusal:
        return await unibox.list_messages(service, cmd)

    @service.answers("get_message", "One message with its texts, decisions and the thread of what was sent.")
    async def get_message(cmd: GetInboxMessage) -> InboxMessageReply | Refusal:
        return await unibox.get_message(service, cmd)

    @service.answers("mark_message", "Mark a message read or unread.")
    async def mark_message(cmd: MarkInboxMessage) -> InboxMessageMarked | Refusal:
        return await unibox.mark_message(service, cmd)

    @service.answers(
        "reclassify_message",
        "A person's decision on what a message is; the lead follows by InboundReclassified and the new "
        "kind's own event.",
    )
    async def reclassify_message(cmd: ReclassifyInboxMessage) -> InboxMessageReply | Refusal:
        return await unibox.reclassify(service, cmd)
