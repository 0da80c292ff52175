"""The Unibox's commands on the real PostgreSQL (services/inbox/unibox.py): messages stored by `store()` listed
newest first a page at a time with every filter, read whole with their thread, marked read, reclassified
with the events the lead follows by; another workspace's message is never found."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from contracts import InboundReclassified, LeadStatus, parse_event
from contracts.commands import (
    GetInboxMessage,
    ImapLogin,
    InboxMessagePage,
    InboxMessageReply,
    ListInboxMessages,
    MarkInboxMessage,
    ReclassifyInboxMessage,
)
from contracts.replies import Refusal, RefusalKind
from contracts.sending import EmailSent
from services.composition import MIGRATED_SERVICES
from services.inbox import unibox
from services.inbox.app import create_service
from services.inbox.imap_reader import Arrived, Position
from services.inbox.reader import Reading, store
from services.inbox.repository import InboxRepository
from services.inbox.tables import messages, outbox
from services.runtime import migrations
from services.runtime.embedded import free_port
from services.runtime.secrets import Secrets, new_secret_key
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.tls import mail_tls_context

WORKSPACE = uuid.uuid4()
OTHER_WORKSPACE = uuid.uuid4()
MAILBOX = uuid.uuid4()
CAMPAIGN = uuid.uuid4()
LEAD = uuid.uuid4()
STEP_1 = "<step-1.ana@leadflow.example>"
STEP_2 = "<step-2.ana@leadflow.example>"
OWNER = "replica-a"


def sent(message_id: str, step: int, subject: str) -> EmailSent:
    fields: dict[str, Any] = {
        "workspace_id": WORKSPACE,
        "campaign_id": CAMPAIGN,
        "lead_id": LEAD,
        "step": step,
        "total_steps": 2,
        "message_id": message_id,
        "mailbox": "sales@leadflow.example",
        "mailbox_id": MAILBOX,
        "subject_line": subject,
        "recipient": "ana@firma.cz",
    }
    return EmailSent(**fields)


@pytest.fixture
async def service(fresh_database_url: Callable[[], str]) -> AsyncIterator[Service]:
    url = fresh_database_url()
    migrations.upgrade(url, MIGRATED_SERVICES)
    key = new_secret_key()
    built = create_service(Settings(nats_url="nats://127.0.0.1:1", database_url=url, secret_key=key))
    login = ImapLogin(
        mailbox_id=MAILBOX,
        workspace_id=WORKSPACE,
        email="sales@leadflow.example",
        host="127.0.0.1",
        port=free_port(),
        username="sales",
        password_encrypted=Secrets.from_value(key).encrypt("pw"),
        security="none",
        updated_at=datetime.now(UTC),
    )
    async with built.unit_of_work() as uow:
        repo = InboxRepository.from_session(uow.session)
        await repo.replace_logins([login])
        await repo.record_sent([sent(STEP_1, 1, "Hi Ana"), sent(STEP_2, 2, "Following up")])
        await repo.hold(OWNER, [MAILBOX], timedelta(seconds=30))
    yield built
    await built.engine.dispose()


def reply(message_id: str, body: str, *, names: str = STEP_1, sender: str = "Ana <ana@firma.cz>") -> bytes:
    return (
        f"From: {sender}\r\nTo: sales@leadflow.example\r\nSubject: Re: Hi Ana\r\nMessage-ID: {message_id}\r\n"
        f"In-Reply-To: {names}\r\n\r\n{body}\r\n"
    ).encode()


def hard_bounce(message_id: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.firma.cz\r\nTo: sales@leadflow.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.firma.cz\r\n\r\n"
        "Final-Recipient: rfc822; ana@firma.cz\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {STEP_2}\r\nSubject: Following up\r\n"
        "\r\n--b--\r\n"
    ).encode()


async def read(service: Service, *raws: bytes) -> None:
    """Store `raws` as read from the mailbox, one batch each (so each has its own received_at)."""
    reading = Reading(service, Secrets.from_value(new_secret_key()), mail_tls_context(None), OWNER, 5, 5)
    async with service.sessions() as session:
        mailbox = (await InboxRepository.from_session(session).all())[0]
        position = await InboxRepository.from_session(session).position(MAILBOX)
    last = 0 if position is None else position.last_uid
    for offset, raw in enumerate(raws, start=1):
        await store(reading, mailbox, [Arrived(last + offset, raw)], Position(7, last + offset))


async def ids_by_message_id(service: Service) -> dict[str, uuid.UUID]:
    async with service.sessions() as session:
        return {row.message_id: row.id for row in await session.execute(select(messages))}


async def announced(service: Service) -> list[Any]:
    """The events in the outbox, which is then emptied (each test step sees only its own)."""
    async with service.unit_of_work() as uow:
        payloads = await uow.session.scalars(select(outbox.c.payload).order_by(outbox.c.id))
        found = [parse_event(bytes(p)) for p in payloads]
        await uow.session.execute(delete(outbox))
    return found


def page_of(answer: InboxMessagePage | Refusal) -> InboxMessagePage:
    assert isinstance(answer, InboxMessagePage), answer
    return answer


def detail_of(answer: InboxMessageReply | Refusal) -> Any:
    assert isinstance(answer, InboxMessageReply), answer
    return answer.message


async def test_messages_are_listed_newest_first_filtered_and_paged(service: Service) -> None:
    await read(
        service,
        reply("<r1@firma.cz>", "First answer."),
        reply("<s1@else.cz>", "A stranger writes.", names="<nothing@else>", sender="someone@else.cz"),
        hard_bounce("<b1@mx.firma.cz>"),
    )
    ids = await ids_by_message_id(service)
    everything = page_of(await unibox.list_messages(service, ListInboxMessages(workspace_id=WORKSPACE)))
    assert [m.id for m in everything.items] == [
        ids["<b1@mx.firma.cz>"],
        ids["<s1@else.cz>"],
        ids["<r1@firma.cz>"],
    ]
    bounce, stranger, first = everything.items
    assert (bounce.kind, bounce.status, bounce.lead_id, bounce.step) == ("hard_bounce", "5.1.1", LEAD, 2)
    assert (stranger.lead_id, stranger.campaign_id) == (None, None)
    assert (first.snippet, first.from_address, first.read) == ("First answer.", "ana@firma.cz", False)
    assert everything.next_cursor is None

    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = page_of(
            await unibox.list_messages(
                service, ListInboxMessages(workspace_id=WORKSPACE, limit=2, cursor=cursor)
            )
        )
        seen += [m.id for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [m.id for m in everything.items]

    async def only(**filters: Any) -> list[uuid.UUID]:
        answer = await unibox.list_messages(service, ListInboxMessages(workspace_id=WORKSPACE, **filters))
        return [m.id for m in page_of(answer).items]

    assert await only(campaign_id=CAMPAIGN) == [bounce.id, first.id]
    assert await only(kind="hard_bounce") == [bounce.id]
    assert await only(mailbox_id=MAILBOX) == [bounce.id, stranger.id, first.id]
    assert await only(mailbox_id=uuid.uuid4()) == []
    marked = await unibox.mark_message(
        service, MarkInboxMessage(workspace_id=WORKSPACE, message_id=first.id, read=True)
    )
    assert not isinstance(marked, Refusal) and marked.message.read
    assert await only(unread=True) == [bounce.id, stranger.id]
    assert await only(unread=False) == [first.id]
    await unibox.mark_message(
        service, MarkInboxMessage(workspace_id=WORKSPACE, message_id=first.id, read=False)
    )
    assert await only(unread=False) == []

    other = page_of(await unibox.list_messages(service, ListInboxMessages(workspace_id=OTHER_WORKSPACE)))
    assert other.items == []
    refused = await unibox.list_messages(service, ListInboxMessages(workspace_id=WORKSPACE, cursor="bm9wZQ"))
    assert isinstance(refused, Refusal) and refused.kind is RefusalKind.INVALID


async def test_a_message_is_read_whole_with_its_thread_and_only_in_its_workspace(service: Service) -> None:
    quoted = "Yes, let's talk on Monday.\r\n\r\nOn Mon, Ana wrote:\r\n> Hi Ana, would you like a demo?"
    await read(service, reply("<r1@firma.cz>", quoted))
    (message_id,) = (await ids_by_message_id(service)).values()
    message = detail_of(
        await unibox.get_message(service, GetInboxMessage(workspace_id=WORKSPACE, message_id=message_id))
    )
    assert message.text.strip() == "Yes, let's talk on Monday."
    assert "would you like a demo?" in message.full_text
    assert (message.kind, message.classified_kind, message.linked_by, message.in_reply_to) == (
        "reply",
        "reply",
        "message_id",
        STEP_1,
    )
    assert [(s.step, s.subject, s.message_id) for s in message.thread] == [
        (1, "Hi Ana", STEP_1),
        (2, "Following up", STEP_2),
    ]
    for command in (
        GetInboxMessage(workspace_id=OTHER_WORKSPACE, message_id=message_id),
        GetInboxMessage(workspace_id=WORKSPACE, message_id=uuid.uuid4()),
    ):
        missing = await unibox.get_message(service, command)
        assert isinstance(missing, Refusal) and missing.kind is RefusalKind.NOT_FOUND
    for call in (
        unibox.mark_message(
            service, MarkInboxMessage(workspace_id=OTHER_WORKSPACE, message_id=message_id, read=True)
        ),
        unibox.reclassify(
            service,
            ReclassifyInboxMessage(
                workspace_id=OTHER_WORKSPACE, message_id=message_id, kind="auto_reply", by="x"
            ),
        ),
    ):
        answer = await call
        assert isinstance(answer, Refusal) and answer.kind is RefusalKind.NOT_FOUND
    detail = detail_of(
        await unibox.get_message(service, GetInboxMessage(workspace_id=WORKSPACE, message_id=message_id))
    )
    assert (detail.read, detail.kind) == (False, "reply")


async def reclassify(service: Service, message_id: uuid.UUID, kind: Any) -> Any:
    return detail_of(
        await unibox.reclassify(
            service,
            ReclassifyInboxMessage(
                workspace_id=WORKSPACE, message_id=message_id, kind=kind, by="Alice (lf_ab…)"
            ),
        )
    )


async def test_reclassifying_keeps_the_first_decision_and_announces_what_the_lead_follows(
    service: Service,
) -> None:
    await read(service, reply("<r1@firma.cz>", "First answer."), hard_bounce("<b1@mx.firma.cz>"))
    ids = await ids_by_message_id(service)
    await announced(service)

    overturned = await reclassify(service, ids["<r1@firma.cz>"], "auto_reply")
    assert (overturned.kind, overturned.rule, overturned.classified_kind, overturned.classified_rule) == (
        "auto_reply",
        "manual",
        "reply",
        overturned.classified_rule,
    )
    assert overturned.classified_rule != "manual"
    assert overturned.reclassified_by == "Alice (lf_ab…)" and overturned.reclassified_at is not None
    undo, auto = await announced(service)
    assert isinstance(undo, InboundReclassified)
    assert (undo.from_kind, undo.to_kind, undo.undoes, undo.lead_id, undo.campaign_id) == (
        "reply",
        "auto_reply",
        LeadStatus.REPLIED,
        LEAD,
        CAMPAIGN,
    )
    assert (undo.inbox_message_id, undo.by) == (ids["<r1@firma.cz>"], "Alice (lf_ab…)")
    assert auto.event_type == "auto_reply_detected" and auto.rule == "manual"

    # The same kind again changes nothing and announces nothing.
    await reclassify(service, ids["<r1@firma.cz>"], "auto_reply")
    assert await announced(service) == []

    # Made a reply: nothing to undo, and the lead is Replied by a ReplyDetected.
    back = await reclassify(service, ids["<r1@firma.cz>"], "reply")
    assert (back.kind, back.classified_kind) == ("reply", "reply")
    undo, replied = await announced(service)
    assert (undo.from_kind, undo.to_kind, undo.undoes) == ("auto_reply", "reply", None)
    assert replied.event_type == "reply_detected" and replied.in_reply_to == STEP_1

    # A hard bounce overturned: the lead leaves Bounced and its address is unsuppressed (the email says which).
    await reclassify(service, ids["<b1@mx.firma.cz>"], "soft_bounce")
    undo, soft = await announced(service)
    assert (undo.undoes, undo.email) == (LeadStatus.BOUNCED, "ana@firma.cz")
    assert (soft.event_type, soft.kind, soft.status, soft.step) == ("email_bounced", "soft", "5.1.1", 2)
    # …and into a hard bounce again.
    await reclassify(service, ids["<b1@mx.firma.cz>"], "hard_bounce")
    undo, hard = await announced(service)
    assert undo.undoes is None and (hard.kind, hard.email) == ("hard", "ana@firma.cz")


async def test_another_message_still_giving_the_status_leaves_nothing_to_undo(service: Service) -> None:
    await read(service, reply("<r1@firma.cz>", "First answer."), reply("<r2@firma.cz>", "And another."))
    ids = await ids_by_message_id(service)
    await announced(service)
    await reclassify(service, ids["<r1@firma.cz>"], "auto_reply")
    undo, _ = await announced(service)
    assert undo.undoes is None
    await reclassify(service, ids["<r2@firma.cz>"], "challenge")
    undo, auto = await announced(service)
    assert undo.undoes is LeadStatus.REPLIED and auto.event_type == "auto_reply_detected"


async def test_a_strangers_message_is_reclassified_without_events(service: Service) -> None:
    await read(service, reply("<s1@else.cz>", "Hello.", names="<nothing@else>", sender="someone@else.cz"))
    (message_id,) = (await ids_by_message_id(service)).values()
    await announced(service)
    changed = await reclassify(service, message_id, "auto_reply")
    assert (changed.kind, changed.rule) == ("auto_reply", "manual")
    assert await announced(service) == []
