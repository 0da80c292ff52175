"""Wiring of the inbox service: it reads every sender mailbox with IMAP settings (readers.py, reader.py),
keeps each message with its decision (classify.py) and announces replies, auto-replies and bounces
(effects.py). It indexes the mailer's EmailSent to link what comes back to the send it answers."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence

from contracts import AutoReplyDetected, EmailBounced, EmailSent, ReplyDetected
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
    service.emits(ReplyDetected, AutoReplyDetected, EmailBounced)

    async def on_sent(uow: UnitOfWork, event: EmailSent) -> None:
        await InboxRepository.from_session(uow.session).record_sent([event])

    async def on_sent_batch(uow: UnitOfWork, events: Sequence[EmailSent]) -> None:
        await InboxRepository.from_session(uow.session).record_sent(events)

    service.consume("email_sent", on_sent, durable="inbox-sent", batch_handler=on_sent_batch)
    service.consume("mailbox_changed", readers.on_mailbox_changed, durable="inbox-mailboxes")
    service.on_startup(readers.start)
    service.on_shutdown(readers.stop)
    return service
