"""Messages for the Unibox's browser tests, stored as the inbox's reader stores them: straight into
`inbox.sent` (what was sent, to link to) and `inbox.messages`, then announced as the reader announces them
after its commit (`InboxMessageStored` on core NATS). Reading IMAP is tested with dovecot elsewhere
(tests/e2e/test_inbox.py); here the page is the subject."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

import httpx
import nats
from sqlalchemy import Engine, create_engine, insert

from contracts import InboundKind, InboxMessageStored
from services.inbox.tables import messages, sent
from tests.browser.seed import create_campaign, import_csv, wait_for_leads
from tests.harness import ServiceStack

UIDS = count(1)


@dataclass
class Workspace:
    """A workspace of the test's own, its campaign with leads, and a mailbox the messages arrived in."""

    stack: ServiceStack
    id: uuid.UUID
    campaign_id: uuid.UUID
    campaign_name: str
    mailbox_id: uuid.UUID
    mailbox_email: str
    leads: dict[str, uuid.UUID] = field(default_factory=dict)

    @contextmanager
    def database(self) -> Iterator[Engine]:
        engine = create_engine(self.stack.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            yield engine
        finally:
            engine.dispose()

    def sent(self, email: str, step: int, subject: str, hours_ago: float) -> str:
        """A send of the campaign to the lead, as the inbox indexes EmailSent; its Message-ID."""
        message_id = f"<step-{step}.{uuid.uuid4().hex}@leadflow.example>"
        with self.database() as engine, engine.begin() as conn:
            conn.execute(
                insert(sent).values(
                    message_id=message_id,
                    workspace_id=self.id,
                    campaign_id=self.campaign_id,
                    lead_id=self.leads[email],
                    step=step,
                    mailbox_id=self.mailbox_id,
                    recipient=email,
                    subject=subject,
                    sent_at=datetime.now(UTC) - timedelta(hours=hours_ago),
                )
            )
        return message_id

    def store(
        self,
        *,
        sender: str,
        subject: str,
        text: str,
        kind: str = "reply",
        rule: str = "default.person",
        lead: str | None = None,
        step: int | None = None,
        answers: str | None = None,
        minutes_ago: float = 0,
        read: bool = False,
        **columns: Any,
    ) -> uuid.UUID:
        """A message stored as the reader stores it (linked to `lead`'s send `answers` when given)."""
        message_id = uuid.uuid4()
        own_id = f"<{message_id}@sender.example>"
        raw = (
            f"From: {sender}\r\nTo: {self.mailbox_email}\r\nSubject: {subject}\r\nMessage-ID: {own_id}\r\n"
            f"\r\n{text}\r\n\r\nOn Monday, you wrote:\r\n> Hello, shall we talk?\r\n"
        )
        linked = (
            {}
            if lead is None
            else {
                "lead_id": self.leads[lead],
                "campaign_id": self.campaign_id,
                "step": step,
                "in_reply_to": answers,
                "linked_by": "message_id",
            }
        )
        with self.database() as engine, engine.begin() as conn:
            conn.execute(
                insert(messages).values(
                    id=message_id,
                    workspace_id=self.id,
                    mailbox_id=self.mailbox_id,
                    message_key=own_id,
                    uidvalidity=1,
                    uid=next(UIDS),
                    raw=raw.encode(),
                    received_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
                    message_id=own_id,
                    from_address=sender,
                    subject=subject,
                    text=text,
                    kind=kind,
                    rule=rule,
                    classified_kind=kind,
                    classified_rule=rule,
                    read=read,
                    **linked,
                    **columns,
                )
            )
        return message_id

    def announcement(
        self, message_id: uuid.UUID, kind: InboundKind, lead: str | None = None
    ) -> InboxMessageStored:
        return InboxMessageStored(
            workspace_id=self.id,
            inbox_message_id=message_id,
            mailbox_id=self.mailbox_id,
            kind=kind,
            lead_id=None if lead is None else self.leads[lead],
            campaign_id=None if lead is None else self.campaign_id,
            received_at=datetime.now(UTC),
        )


def workspace_with_leads(api: httpx.Client, stack: ServiceStack, emails: Sequence[str]) -> Workspace:
    name = "Spring outreach"
    campaign_id = create_campaign(api, name)
    import_csv(api, campaign_id, "email\n" + "".join(f"{e}\n" for e in emails), {"email": "email"})
    listed = wait_for_leads(api, campaign_id, len(emails))["items"]
    # No IMAP settings: the stack's inbox reads nothing from it, the page only names it.
    mailbox = api.post(
        "/api/v1/mailboxes",
        json={
            "email": "sales@unibox-ui.example",
            "name": "Sales",
            "smtp": {
                "host": "127.0.0.1",
                "port": 2525,
                "username": "sales",
                "password": "pw",
                "security": "none",
            },
        },
    )
    assert mailbox.status_code == 201, mailbox.text
    return Workspace(
        stack=stack,
        id=uuid.UUID(api.get("/api/v1/workspace").json()["id"]),
        campaign_id=uuid.UUID(campaign_id),
        campaign_name=name,
        mailbox_id=uuid.UUID(mailbox.json()["id"]),
        mailbox_email="sales@unibox-ui.example",
        leads={lead["email"]: uuid.UUID(lead["id"]) for lead in listed},
    )


def announce(nats_url: str, events: Sequence[InboxMessageStored]) -> None:
    """On core NATS, as the inbox's reader announces what it stored (from another thread: Playwright's sync
    API keeps an event loop running on this one)."""

    async def publish() -> None:
        nc = await nats.connect(nats_url)
        try:
            for event in events:
                await nc.publish(event.subject, event.to_bytes())
            await nc.flush()
        finally:
            await nc.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, publish()).result()


RETURN_DATE = date(2030, 1, 14)
