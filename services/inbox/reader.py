"""Reading one mailbox: connect, take what arrived since the position stored, keep each message once,
decide and link it, emit its event, wait (IDLE, or a pause where the server has none), and again.

Each batch is one transaction: the raw messages with their decisions, their events (outbox) and the new
position commit together, and only while this replica still holds the mailbox (`advance` checks the
lease). A crash or a lost connection before the commit leaves the position where it was: the next reader
takes the same messages again, and their key (the Message-ID, or the bytes' digest when there is none)
keeps each stored once per mailbox, as it does when a changed UIDVALIDITY makes the whole INBOX new.

How reading goes is kept with the mailbox for people to see (mailbox_reading.py): a failed session records
its error; a connect, each look that finds nothing new and each batch clear it and record the time.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

import structlog

from contracts import InboxMessageStored
from services.inbox.classify import Classification, classify
from services.inbox.effects import Decided, Send, effects
from services.inbox.imap_reader import Arrived, ImapError, ImapInbox, ImapLogin, Position
from services.inbox.repository import InboxRepository, Mailbox
from services.runtime.backoff import Backoff, run_forever
from services.runtime.secrets import NotDecryptable, Secrets
from services.runtime.service import Service

log = structlog.get_logger(__name__)

BATCH = 50
# A mailbox whose server fails is tried again after 1 s, then less often, at least every 2 minutes.
RECONNECT = Backoff(first=1.0, most=120.0)


class LeaseLost(Exception):
    """Another replica holds the mailbox now: what this one read is not kept."""


@dataclass(frozen=True)
class Reading:
    """What every mailbox reader of a replica shares."""

    service: Service
    secrets: Secrets
    tls_context: ssl.SSLContext
    owner: str
    idle_seconds: float
    poll_seconds: float


def message_key(classified: Classification, raw: bytes) -> str:
    """What makes a message the same one in its mailbox: its Message-ID, or its bytes."""
    return classified.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


async def read_mailbox(reading: Reading, mailbox: Mailbox) -> NoReturn:
    """Read `mailbox` until cancelled, reconnecting after failures (see the module)."""
    await run_forever(
        lambda established: _session(reading, mailbox, established),
        what=f"reading the mailbox {mailbox.email}",
        backoff=RECONNECT,
    )


async def _session(reading: Reading, mailbox: Mailbox, established: Callable[[], None]) -> NoReturn:
    inbox: ImapInbox | None = None
    try:
        inbox = ImapInbox(_login(reading, mailbox), tls_context=reading.tls_context)
        await inbox.open()
        established()
        await _checked(reading, mailbox)
        log.info("reading mailbox", mailbox=mailbox.email, idle=inbox.can_idle)
        while True:
            async with reading.service.sessions() as session:
                position = await InboxRepository.from_session(session).position(mailbox.id)
            arrived, after = await inbox.after(position, limit=BATCH)
            if arrived or after != position:
                await store(reading, mailbox, arrived, after)
            else:
                # A wake from IDLE (or a poll) that found nothing new: the server still answers. One UPDATE
                # per round, at most one an IDLE renewal or a poll apart when no mail arrives.
                await _checked(reading, mailbox)
            if len(arrived) < BATCH:
                await inbox.wait(reading.idle_seconds if inbox.can_idle else reading.poll_seconds)
    except ImapError as exc:
        # Shown with the mailbox until a read succeeds again.
        with contextlib.suppress(Exception):
            await _record_error(reading, mailbox, str(exc))
        raise
    finally:
        if inbox is not None:
            await inbox.close()


def _login(reading: Reading, mailbox: Mailbox) -> ImapLogin:
    try:
        password = reading.secrets.decrypt(mailbox.password_encrypted)
    except NotDecryptable:
        raise ImapError(
            "the IMAP password cannot be decrypted with LEADFLOW_SECRET_KEY (was the key rotated without "
            "keeping the old one?)"
        ) from None
    return ImapLogin(mailbox.host, mailbox.port, mailbox.username, password, mailbox.security)


async def store(reading: Reading, mailbox: Mailbox, arrived: Sequence[Arrived], after: Position) -> None:
    """Keep, decide, link and announce `arrived`, and move the position to `after`, in one transaction; then
    tell open Uniboxes what was stored."""
    decided = [(item, classify(item.raw)) for item in arrived]
    kept: list[InboxMessageStored] = []
    async with reading.service.unit_of_work() as uow:
        repo = InboxRepository.from_session(uow.session)
        for item, classified in decided:
            message_id = uuid.uuid4()
            address = classified.bounced_recipient if classified.bounced_recipient else classified.sender
            ours = await _ours(repo, mailbox, classified)
            link = (
                None
                if ours
                else await repo.link(
                    mailbox.workspace_id, classified.references, classified.conversation, address
                )
            )
            send = None if link is None else link.send
            values = _row(message_id, mailbox, after.uidvalidity, item, classified)
            if send is not None and link is not None:
                values |= {
                    "in_reply_to": send.message_id,
                    "lead_id": send.lead_id,
                    "campaign_id": send.campaign_id,
                    "step": send.step,
                    "linked_by": link.by,
                }
            if not await repo.add_message(values):
                continue
            uow.emit(*effects(decided_of(message_id, mailbox, classified), send))
            kept.append(stored_event(message_id, mailbox, classified, send))
            log.info(
                "message read",
                mailbox=mailbox.email,
                uid=item.uid,
                kind=classified.kind,
                rule=classified.rule,
                lead_id=None if send is None else str(send.lead_id),
            )
        if not await repo.advance(mailbox.id, reading.owner, after):
            raise LeaseLost(f"another replica reads {mailbox.email} now")
    await announce(reading.service, kept)


async def _ours(repo: InboxRepository, mailbox: Mailbox, classified: Classification) -> bool:
    """A copy of what the mailbox itself sent (a BCC to itself, a server that files sent mail in the INBOX):
    kept, but it answers nothing, however it is threaded."""
    if classified.sender is not None and classified.sender == mailbox.email.lower():
        return True
    return classified.message_id is not None and await repo.was_sent(
        mailbox.workspace_id, classified.message_id
    )


def stored_event(
    message_id: uuid.UUID, mailbox: Mailbox, classified: Classification, send: Send | None
) -> InboxMessageStored:
    return InboxMessageStored(
        workspace_id=mailbox.workspace_id,
        inbox_message_id=message_id,
        mailbox_id=mailbox.id,
        kind=classified.kind,
        lead_id=None if send is None else send.lead_id,
        campaign_id=None if send is None else send.campaign_id,
        received_at=datetime.now(UTC),
    )


async def announce(service: Service, kept: Sequence[InboxMessageStored]) -> None:
    """Core NATS, only after the commit (whoever hears one can read its message). Ephemeral: one lost costs
    nothing, since the Unibox reads its list again anyway, so a failed publish never fails the batch."""
    for event in kept:
        with contextlib.suppress(Exception):
            await service.broker.publish(event.to_bytes(), event.subject)


def decided_of(message_id: uuid.UUID, mailbox: Mailbox, classified: Classification) -> Decided:
    return Decided(
        id=message_id,
        workspace_id=mailbox.workspace_id,
        mailbox_id=mailbox.id,
        message_id=classified.message_id,
        from_address=classified.sender,
        subject=classified.subject,
        text=classified.text,
        kind=classified.kind,
        rule=classified.rule,
        status=classified.status,
        smtp_code=classified.smtp_code,
        diagnostic=classified.diagnostic,
        bounced_recipient=classified.bounced_recipient,
        return_date=classified.return_date,
    )


def _row(
    message_id: uuid.UUID, mailbox: Mailbox, uidvalidity: int, item: Arrived, classified: Classification
) -> dict[str, object]:
    return {
        "id": message_id,
        "workspace_id": mailbox.workspace_id,
        "mailbox_id": mailbox.id,
        "message_key": message_key(classified, item.raw),
        "uidvalidity": uidvalidity,
        "uid": item.uid,
        "raw": item.raw,
        "message_id": classified.message_id,
        "from_address": classified.sender,
        "subject": _clean(classified.subject),
        "text": _clean(classified.text),
        "kind": classified.kind,
        "rule": classified.rule,
        "classified_kind": classified.kind,
        "classified_rule": classified.rule,
        "status_code": classified.status,
        "smtp_code": classified.smtp_code,
        "diagnostic": _clean(classified.diagnostic),
        "bounced_recipient": classified.bounced_recipient,
        "return_date": classified.return_date,
        "in_reply_to": classified.in_reply_to,
    }


def _clean(text: str) -> str:
    """PostgreSQL text holds no NUL."""
    return text.replace("\x00", "")


async def _checked(reading: Reading, mailbox: Mailbox) -> None:
    """The server answered: the mailbox is read, shown as such (its error gone) with the time checked."""
    async with reading.service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).checked(mailbox.id, reading.owner)


async def _record_error(reading: Reading, mailbox: Mailbox, error: str) -> None:
    async with reading.service.unit_of_work() as uow:
        await InboxRepository.from_session(uow.session).record_error(mailbox.id, reading.owner, error)
