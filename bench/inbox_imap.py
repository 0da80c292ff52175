"""The IMAP path, end to end: from a reply APPENDed to a sender mailbox to its lead shown Replied.

Starts embedded NATS and PostgreSQL, the mailer (it owns the mailbox), the inbox and the gateway (whose
projection shows the lead's status), and a dovecot on loopback (`dovecot-imapd`). The leads and their step
1 are published as the importer and the mailer would (LeadImported, EmailSent), so the inbox knows every
send. Then `--replies` replies are APPENDed one at a time, `--spacing` seconds apart, each answering its
lead's send, and the gateway's lead table is polled every 20 ms: a reply's latency is from the APPEND's
answer to the first poll that shows its lead Replied. The inbox waits in IDLE, so a reply is read when
dovecot announces it. Prints p50, p95 and the worst, against the target (p95 < 2 s).

    .venv/bin/python bench/inbox_imap.py [--replies 100] [--spacing 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats
import psycopg
from aioimaplib import aioimaplib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers import bench_stack
from stream import import_chunks, publish

from contracts import EmailSent, subjects
from contracts.commands import CreateMailbox, MailboxReply, ServerIn
from contracts.events import ImportedLead
from contracts.replies import Refusal, read_reply
from services.runtime.db import psycopg_conninfo
from tests.harness import ServiceStack
from tests.peers.dovecot import Dovecot

TARGET_P95 = 2.0
SENDER = "sales@leadflow.cz"
PASSWORD = "bench password"


async def create_mailbox(nats_url: str, workspace_id: uuid.UUID, dovecot: Dovecot) -> uuid.UUID:
    smtp = ServerIn(host="127.0.0.1", port=1, username="u", password="p", security="none")
    imap = ServerIn(
        host="localhost", port=dovecot.port, username=SENDER, password=PASSWORD, security="starttls"
    )
    command = CreateMailbox(
        workspace_id=workspace_id, mailbox_id=uuid.uuid4(), email=SENDER, name="Bench", smtp=smtp, imap=imap
    )
    nc = await nats.connect(nats_url)
    try:
        answer = await nc.request(
            subjects.command_subject("mailer", "create_mailbox"),
            command.model_dump_json().encode(),
            timeout=15,
        )
    finally:
        await nc.close()
    reply = read_reply(answer.data, MailboxReply)
    if isinstance(reply, Refusal):
        raise SystemExit(f"the mailer refused the mailbox: {reply.message}")
    return reply.mailbox.id


def reply_to(lead: ImportedLead, message_id: str, n: int) -> bytes:
    return (
        f"From: <{lead.email}>\r\nTo: {SENDER}\r\nSubject: Re: Hello\r\nMessage-ID: <bench-reply-{n}@firma.cz>\r\n"
        f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\n\r\nSounds good, call me on Tuesday.\r\n"
    ).encode()


async def run(stack: ServiceStack, dovecot: Dovecot, replies: int, spacing: float) -> list[float]:
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    mailbox_id = await create_mailbox(stack.nats_url, workspace_id, dovecot)
    leads = [ImportedLead(lead_id=uuid.uuid4(), email=f"lead{n}@firma.cz", row=n + 1) for n in range(replies)]
    sends = {
        lead.lead_id: EmailSent(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            lead_id=lead.lead_id,
            step=1,
            total_steps=2,
            message_id=f"<bench-step-1.{lead.lead_id}@leadflow.cz>",
            mailbox=SENDER,
            mailbox_id=mailbox_id,
            subject="Hello",
            recipient=lead.email,
            occurred_at=datetime.now(UTC),
        )
        for lead in leads
    }
    await publish(stack.nats_url, [*import_chunks(workspace_id, campaign_id, leads), *sends.values()])
    conninfo = psycopg_conninfo(stack.database_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while True:  # every lead Contacted, every send indexed, the mailbox held by a reader
            contacted = conn.execute(
                "SELECT count(*) FROM gateway.lead_view WHERE campaign_id = %s AND status = 'contacted'",
                (campaign_id,),
            ).fetchone()
            indexed = conn.execute(
                "SELECT count(*) FROM inbox.sent WHERE campaign_id = %s", (campaign_id,)
            ).fetchone()
            reading = conn.execute(
                "SELECT count(*) FROM inbox.mailboxes WHERE id = %s AND read_at IS NOT NULL", (mailbox_id,)
            ).fetchone()
            if (
                contacted
                and indexed
                and reading
                and (contacted[0], indexed[0], reading[0]) == (replies, replies, 1)
            ):
                break
            await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # the reader is in IDLE again after its first read

    appended: dict[uuid.UUID, float] = {}
    seen: dict[uuid.UUID, float] = {}
    done = asyncio.Event()

    async def poll() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while len(seen) < replies:
                rows = conn.execute(
                    "SELECT id FROM gateway.lead_view WHERE campaign_id = %s AND status = 'replied'",
                    (campaign_id,),
                ).fetchall()
                now = time.perf_counter()
                for (lead_id,) in rows:
                    seen.setdefault(lead_id, now)
                await asyncio.sleep(0.02)
        done.set()

    poller = asyncio.create_task(poll())
    client = aioimaplib.IMAP4_SSL(
        "127.0.0.1", dovecot.tls_port, timeout=10, ssl_context=stack.mail_certificate.client_context()
    )
    await client.wait_hello_from_server()
    await client.login(SENDER, PASSWORD)
    for n, lead in enumerate(leads):
        answer = await client.append(reply_to(lead, sends[lead.lead_id].message_id, n), mailbox="INBOX")
        appended[lead.lead_id] = time.perf_counter()
        if answer.result != "OK":
            raise SystemExit(f"APPEND failed: {answer.lines}")
        await asyncio.sleep(spacing)
    await client.logout()
    await asyncio.wait_for(done.wait(), 120)
    await poller
    return sorted(seen[lead_id] - appended[lead_id] for lead_id in appended)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=100)
    parser.add_argument("--spacing", type=float, default=0.1)
    args = parser.parse_args()
    with bench_stack("mailer", "inbox", "gateway") as stack:
        dovecot = Dovecot(stack.mail_certificate, username=SENDER, password=PASSWORD).start()
        try:
            latencies = asyncio.run(run(stack, dovecot, args.replies, args.spacing))
        finally:
            dovecot.stop()
    p50 = statistics.median(latencies)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"IMAP path, APPEND → lead Replied, {len(latencies)} replies {args.spacing:.2f} s apart: "
        f"p50 {p50 * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms, worst {latencies[-1] * 1e3:.0f} ms"
    )
    print(f"  target p95 < {TARGET_P95:.0f} s: {'met' if p95 < TARGET_P95 else 'NOT met'}")


if __name__ == "__main__":
    main()
