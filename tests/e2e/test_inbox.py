"""The inbox end to end on the real stack and a real Dovecot: step 1 is sent through a submission server,
then what comes back is APPENDed to the sender mailbox's INBOX as a delivery agent would add it:

- a reply that names the sent Message-ID → the lead is Replied within seconds and step 2 is never sent;
- a DSN (RFC 3464) for another lead → Bounced, and the address suppressed;
- an out-of-office → the lead's sequence goes on (its step 2 arrives); one with a return date still
  ahead holds the lead's step 2 until the day after it;
- Dovecot restarted under the reader's IDLE, and the INBOX read again from the start under a new
  UIDVALIDITY → nothing lost, nothing counted twice.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from aioimaplib import aioimaplib
from nats.aio.client import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from contracts import Verdict
from tests.e2e.api import create_campaign, publish_verdicts, start_import, wait_for_import, wait_for_leads
from tests.e2e.conftest import MAIL_PASSWORD
from tests.harness import ServiceStack, eventually
from tests.peers.dovecot import Dovecot
from tests.peers.submission import Received, SubmissionServer

SENDER = "inbox@leadflow.cz"
CSV = (
    b"email,first_name,company\nana@firma.cz,Ana,Firma\npetr@firma.cz,Petr,Firma\njana@jina.cz,Jana,Jina\n"
    b"eva@dalsi.cz,Eva,Dalsi\n"
)
STEPS = [
    {"subject": "Hi {{first_name}}", "body": "Hello {{first_name}}.", "delay_minutes": 0},
    {"subject": "", "body": "Following up, {{first_name}}.", "delay_minutes": 1},
]


async def append(server: Dovecot, stack: ServiceStack, *raws: bytes) -> None:
    client = aioimaplib.IMAP4_SSL(
        "127.0.0.1", server.tls_port, timeout=10, ssl_context=stack.mail_certificate.client_context()
    )
    await client.wait_hello_from_server()
    await client.login(server.username, server.password)
    for raw in raws:
        answer = await client.append(raw, mailbox="INBOX")
        assert answer.result == "OK", answer.lines
    await client.logout()


def reply(to: Received, body: str) -> bytes:
    sent = to.message
    return (
        f"From: Ana <ana@firma.cz>\r\nTo: {SENDER}\r\nSubject: Re: {sent['Subject']}\r\n"
        f"Message-ID: <{uuid.uuid4()}@firma.cz>\r\nIn-Reply-To: {sent['Message-ID']}\r\n"
        f"References: {sent['Message-ID']}\r\nDate: Mon, 7 Dec 2026 10:00:00 +0100\r\n\r\n{body}\r\n"
    ).encode()


def dsn(to: Received) -> bytes:
    sent = to.message
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.firma.cz>\r\n"
        f"To: {SENDER}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{uuid.uuid4()}@mx.firma.cz>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.firma.cz\r\n\r\n"
        "Final-Recipient: rfc822; petr@firma.cz\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <petr@firma.cz>: Recipient address rejected: User unknown\r\n\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {SENDER}\r\nTo: petr@firma.cz\r\nSubject: {sent['Subject']}\r\n"
        f"Message-ID: {sent['Message-ID']}\r\n\r\n--b1--\r\n"
    ).encode()


def out_of_office(to: Received, until: str) -> bytes:
    sent = to.message
    (address,) = to.rcpt_tos
    return (
        f"From: <{address}>\r\nTo: {SENDER}\r\nSubject: Automatic reply: {sent['Subject']}\r\n"
        f"Message-ID: <{uuid.uuid4()}@{address.split('@')[1]}>\r\nIn-Reply-To: {sent['Message-ID']}\r\n"
        "Auto-Submitted: auto-replied\r\nDate: Mon, 7 Dec 2026 10:00:00 +0100\r\n\r\n"
        f"I am out of the office until {until} with limited access to email.\r\n"
    ).encode()


def first_steps(server: SubmissionServer) -> dict[str, Received]:
    found: dict[str, Received] = {}
    for received in server.received:
        for rcpt in received.rcpt_tos:
            found.setdefault(rcpt, received)
    return found


async def statuses(own: httpx.AsyncClient, campaign_id: str) -> dict[str, str]:
    listed = (await own.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 50})).json()
    return {lead["email"]: lead["status"] for lead in listed["items"]}


async def query(stack: ServiceStack, sql: str, mailbox_id: str) -> list[Any]:
    url = stack.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql), {"m": UUID(mailbox_id)}))
    finally:
        await engine.dispose()


async def stored_messages(stack: ServiceStack, mailbox_id: str) -> list[tuple[str, str]]:
    rows = await query(
        stack,
        "SELECT kind, rule FROM inbox.messages WHERE mailbox_id = :m ORDER BY received_at, uid",
        mailbox_id,
    )
    return [(row.kind, row.rule) for row in rows]


async def uidvalidity(stack: ServiceStack, mailbox_id: str) -> int:
    (row,) = await query(stack, "SELECT uidvalidity FROM inbox.mailboxes WHERE id = :m", mailbox_id)
    return int(row.uidvalidity)


async def test_replies_bounces_and_auto_replies_read_over_imap_move_their_leads(
    own: httpx.AsyncClient, starttls_smtp: SubmissionServer, dovecot: Dovecot, stack: ServiceStack, nc: Client
) -> None:
    server = {"host": "localhost", "username": SENDER, "password": MAIL_PASSWORD, "security": "starttls"}
    mailbox = await own.post(
        "/api/v1/mailboxes",
        json={
            "email": SENDER,
            "name": "Inbox test",
            "smtp": {**server, "port": starttls_smtp.port, "username": starttls_smtp.username},
            "imap": {**server, "port": dovecot.port},
            "daily_limit": 100,
            "min_gap_seconds": 0,
        },
    )
    assert mailbox.status_code == 201, mailbox.text
    mailbox_id = mailbox.json()["id"]
    campaign_id = await create_campaign(own, "Inbox")
    settings = await own.patch(
        f"/api/v1/campaigns/{campaign_id}", json={"mailbox_ids": [mailbox_id], "wait_for_validation": True}
    )
    assert settings.status_code == 200, settings.text
    assert (
        await own.put(f"/api/v1/campaigns/{campaign_id}/sequence", json={"steps": STEPS})
    ).status_code == 200
    mapping = {"email": "email", "first_name": "first_name", "company_name": "company"}
    imported = await wait_for_import(own, (await start_import(own, campaign_id, CSV, mapping))["id"])
    assert imported["state"] == "completed", imported
    leads = (await wait_for_leads(own, campaign_id, 4))["items"]
    workspace_id = UUID((await own.get("/api/v1/workspace")).json()["id"])
    await publish_verdicts(
        nc, workspace_id, campaign_id, [(lead, Verdict.VALID, "checked") for lead in leads]
    )
    activated = await own.post(f"/api/v1/campaigns/{campaign_id}/activate")
    assert activated.status_code == 200, activated.text

    async def all_contacted() -> dict[str, Received] | None:
        sent = first_steps(starttls_smtp)
        return sent if len(sent) == 4 else None

    sent = await eventually(all_contacted, within=60)
    await append(
        dovecot,
        stack,
        reply(sent["ana@firma.cz"], "Thanks, let's talk on Tuesday."),
        dsn(sent["petr@firma.cz"]),
        # Back already (a date gone by): her sequence goes on as planned.
        out_of_office(sent["jana@jina.cz"], "1 December 2026"),
        # Back after the holidays: her next step waits until the day after.
        out_of_office(sent["eva@dalsi.cz"], "12 January 2027"),
    )

    async def decided() -> dict[str, str] | None:
        now = await statuses(own, campaign_id)
        done = now.get("ana@firma.cz") == "replied" and now.get("petr@firma.cz") == "bounced"
        return now if done else None

    now = await eventually(decided, within=30)
    assert now["jana@jina.cz"] == now["eva@dalsi.cz"] == "contacted"
    suppressed = (await own.get("/api/v1/suppressions", params={"q": "petr@"})).json()
    assert suppressed["total"] == 1, suppressed
    kinds = await stored_messages(stack, mailbox_id)
    assert [kind for kind, _ in kinds] == ["reply", "hard_bounce", "auto_reply", "auto_reply"], kinds

    # Dovecot goes down under the reader's IDLE and comes back: what arrives next is read, once.
    dovecot.stop_server()
    await asyncio.sleep(1)
    dovecot.start()
    await append(dovecot, stack, reply(sent["ana@firma.cz"], "One more thing: send the price list."))

    async def five() -> list[tuple[str, str]] | None:
        found = await stored_messages(stack, mailbox_id)
        return found if len(found) == 5 else None

    assert [kind for kind, _ in await eventually(five, within=60)] == [
        "reply",
        "hard_bounce",
        "auto_reply",
        "auto_reply",
        "reply",
    ]

    # The INBOX made anew (UIDVALIDITY changes, every UID starts again): nothing is counted twice.
    before = await uidvalidity(stack, mailbox_id)
    dovecot.stop_server()
    maildir = dovecot.folder / "home" / SENDER / "Maildir"
    for index in ("dovecot-uidlist", "dovecot-uidvalidity"):
        (maildir / index).unlink(missing_ok=True)
    for leftover in maildir.glob("dovecot-uidvalidity.*"):
        leftover.unlink()
    for cache in maildir.glob("dovecot.index*"):
        cache.unlink()
    shutil.rmtree(dovecot.folder / "state", ignore_errors=True)
    dovecot.start()
    await append(dovecot, stack, reply(sent["ana@firma.cz"], "And a third note."))

    async def six() -> list[tuple[str, str]] | None:
        found = await stored_messages(stack, mailbox_id)
        return found if len(found) >= 6 else None

    assert len(await eventually(six, within=60)) == 6
    await asyncio.sleep(2)
    assert len(await stored_messages(stack, mailbox_id)) == 6
    assert await uidvalidity(stack, mailbox_id) != before

    # Step 2 (a minute after step 1) reaches the lead whose auto-reply came back, and never the lead who
    # replied or the one whose address bounced.
    async def jana_followed_up() -> bool:
        return sum("jana@jina.cz" in r.rcpt_tos for r in starttls_smtp.received) == 2

    await eventually(jana_followed_up, within=120)
    await asyncio.sleep(3)
    for email in ("ana@firma.cz", "petr@firma.cz", "eva@dalsi.cz"):
        assert sum(email in r.rcpt_tos for r in starttls_smtp.received) == 1, email
    final = await statuses(own, campaign_id)
    assert final["ana@firma.cz"] == "replied" and final["petr@firma.cz"] == "bounced", final
    listed = (await own.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"q": "eva@"})).json()["items"]
    (eva,) = listed
    assert eva["next_step"] == 2, eva
    assert datetime.fromisoformat(eva["next_step_at"]) >= datetime(2027, 1, 13, tzinfo=UTC), eva
