"""How fast the mailer sends: 10,000 leads, one step, 10 mailboxes with the limits off, into a local sink.

Starts its own embedded NATS and PostgreSQL (temporary), migrates, runs the importer (the mailer asks it
about suppressions before every batch) and the mailer as processes, and a mail sink in a process of its
own (`tests/peers/sink.py`: aiosmtpd on 127.0.0.1, any login accepted, one line per message taken). The
gateway and the sequencer are left out: their projections of the events are not the mailer's work, and
on a small machine they would take its CPU. Then, against that same sink:

1. the raw baseline: aiosmtplib alone, `--mailboxes` connections (AUTH, no TLS) each sending its share of
   `--leads` pre-built messages (the mailer's own MIME builder) one after the other — run before and again
   after the service path, the rate of the two together being the baseline (the load of a shared
   machine drifts within a run);
2. the service path: `--mailboxes` mailboxes (the mailer's create_mailbox; daily limit 100,000, gap 0), the
   campaign's settings (active, those mailboxes) and one `StepDue` per lead published straight to the
   stream, as the sequencer would; timed from the first publish until every send is `sent` in
   `mailer.sends` (each one queued, checked against the suppression list, reserved under the locked paces,
   delivered over the mailbox's pooled connection and settled with its EmailSent in one transaction).

It prints both rates and their ratio (target ≥ 0.7), and exits 1 when the sink did not receive every
message of each phase exactly once.

    .venv/bin/python bench/send.py [--leads 10000] [--mailboxes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import nats
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers import bench_stack
from stream import publish, wait_for

from contracts import CampaignUpdated, Event, subjects
from contracts.campaign_settings import CampaignSettingsData, CampaignStatus, StepData
from contracts.commands import CreateMailbox, MailboxReply, ServerIn
from contracts.events import StepDue
from contracts.replies import Refusal, read_reply
from services.mailer.message import Outgoing, build, message_id_for, unsubscribe_url
from services.runtime.db import psycopg_conninfo
from services.runtime.secrets import Secrets, new_secret_key
from services.runtime.unsubscribe_tokens import UnsubscribeTokens
from tests.peers.fakemx import free_port

TARGET = 0.7
SUBJECT = "Quick question, {n}"
BODY = "Hello,\n\nwould a short call next week suit you?\n\nAna\n"


class BenchFailure(Exception):
    """The run is broken: its figures must not be reported as a measurement."""


# The unsubscribe links' base as the mailer makes it for a gateway on its default address.
BASE_URL = "http://127.0.0.1:8000"
RAW_WORKSPACE = uuid.uuid4()


def start_sink(port: int, out: Path) -> subprocess.Popen[bytes]:
    sink = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.sink", str(port), str(out)], stdout=subprocess.PIPE
    )
    assert sink.stdout is not None
    if sink.stdout.readline().strip() != b"ready":
        raise BenchFailure("the sink did not start")
    return sink


def wait_received(out: Path, total: int) -> None:
    """Until the sink has taken `total` messages in all, reading only what it appended since the last look:
    the run then polls the mailer's table only for the settlements of the last few. Polled from the start,
    the count over the campaign's sends took PostgreSQL 3 to 4 ms a time, every 20 ms: a fifth of a core
    taken from the service path being measured (and not from the raw baseline, which times itself)."""
    seen, offset = 0, 0
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        if out.exists():
            with out.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            seen += chunk.count(b"\n")
            if seen >= total:
                return
        time.sleep(0.02)
    raise BenchFailure(f"the sink took {seen} of {total} messages in 600 s")


def lines(out: Path) -> list[tuple[str, str]]:
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    return [(m, to) for m, _, to in (line.partition("\t") for line in text.splitlines())]


async def raw_baseline(port: int, leads: int, connections: int, tag: str) -> float:
    """aiosmtplib alone: `connections` connections, pre-built messages; the seconds it took."""
    tokens = UnsubscribeTokens.from_secrets(Secrets.from_value(new_secret_key()))
    messages = [
        build(
            Outgoing(
                message_id=message_id_for(uuid.uuid4(), "raw@firma.cz"),
                from_name="Ana",
                from_email="raw@firma.cz",
                to=(to := f"{tag}{n:06d}@example.com"),
                subject=SUBJECT.format(n=n),
                body=BODY,
                date=datetime.now(UTC),
                # A signed token like the mailer's, so that both phases send messages of the same size.
                unsubscribe_url=unsubscribe_url(BASE_URL, tokens.make_token(RAW_WORKSPACE, uuid.uuid4(), to)),
            )
        )
        for n in range(leads)
    ]

    async def one(k: int) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        await client.login("u", "p")
        for n in range(k, leads, connections):
            await client.sendmail("raw@firma.cz", [f"{tag}{n:06d}@example.com"], messages[n])
        await client.quit()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(connections)))
    return time.perf_counter() - t0


async def create_mailboxes(nats_url: str, workspace_id: uuid.UUID, port: int, count: int) -> list[uuid.UUID]:
    """The mailboxes, by the mailer's own command (as the gateway sends it)."""
    smtp = ServerIn(host="127.0.0.1", port=port, username="u", password="p", security="none")
    nc = await nats.connect(nats_url)
    ids = []
    try:
        for n in range(count):
            command = CreateMailbox(
                workspace_id=workspace_id,
                mailbox_id=uuid.uuid4(),
                email=f"sender{n}@firma.cz",
                name="Ana",
                smtp=smtp,
                daily_limit=100_000,
                min_gap_seconds=0,
            )
            answer = await nc.request(
                subjects.command_subject("mailer", "create_mailbox"),
                command.model_dump_json().encode(),
                timeout=15,
            )
            reply = read_reply(answer.data, MailboxReply)
            if isinstance(reply, Refusal):
                raise BenchFailure(f"the mailer refused a mailbox: {reply.message}")
            ids.append(reply.mailbox.id)
    finally:
        await nc.close()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--mailboxes", type=int, default=10)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="leadflow-bench-sink-")) / "received.tsv"
    port = free_port()
    sink = start_sink(port, out)
    try:
        with bench_stack("importer", "mailer") as stack:
            workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
            raw_before = asyncio.run(raw_baseline(port, args.leads, args.mailboxes, "before"))
            raw = lines(out)
            if len(raw) != args.leads or len(set(raw)) != args.leads:
                raise BenchFailure(
                    f"the raw baseline delivered {len(raw)} messages, {len(set(raw))} distinct"
                )

            mailbox_ids = asyncio.run(create_mailboxes(stack.nats_url, workspace_id, port, args.mailboxes))
            conninfo = psycopg_conninfo(stack.database_url)
            # 2a. End to end: the StepDue published while the campaign is active.
            # The events are built before the clock starts (the sequencer's work, not the mailer's).
            events = campaign_events(workspace_id, campaign_id, mailbox_ids, args.leads)
            t0 = time.perf_counter()
            asyncio.run(publish(stack.nats_url, events))
            wait_received(out, 2 * args.leads)
            seconds = wait_for(conninfo, SENT, (campaign_id,), args.leads, t0)
            phases = spread(stack.database_url, campaign_id)
            check_sink(lines(out)[len(raw) :], args.leads, "end to end")
            # 2b. From a full queue: the StepDue queued while the campaign is paused, then it is resumed;
            # the clock covers the sending alone (claim, suppression check, reservation, SMTP, settlement).
            queued_campaign = uuid.uuid4()
            events = campaign_events(
                workspace_id, queued_campaign, mailbox_ids, args.leads, status=CampaignStatus.PAUSED
            )
            asyncio.run(publish(stack.nats_url, events))
            wait_for(conninfo, QUEUED, (queued_campaign,), args.leads, time.perf_counter())
            resumed = events[0].model_copy(
                update={
                    "event_id": uuid.uuid4(),
                    "status": CampaignStatus.ACTIVE,
                    "occurred_at": datetime.now(UTC),
                }
            )
            t1 = time.perf_counter()
            asyncio.run(publish(stack.nats_url, [resumed]))
            wait_received(out, 3 * args.leads)
            queue_seconds = wait_for(conninfo, SENT, (queued_campaign,), args.leads, t1)
            check_sink(lines(out)[len(raw) + args.leads :], args.leads, "from a full queue")
            # Once more after the service path: on a shared machine the load drifts within a run.
            raw_after = asyncio.run(raw_baseline(port, args.leads, args.mailboxes, "after"))
    finally:
        sink.terminate()
        sink.wait(10)
    raw_rate, rate = 2 * args.leads / (raw_before + raw_after), args.leads / seconds
    queue_rate = args.leads / queue_seconds
    print(
        f"raw aiosmtplib, {args.mailboxes} connections: {raw_rate:,.0f} messages/s "
        f"(before {args.leads / raw_before:,.0f}, after {args.leads / raw_after:,.0f})"
    )
    print(f"mailer, {args.mailboxes} mailboxes: {rate:,.0f} messages/s ({seconds:.2f} s, StepDue to sent)")
    print(f"  ratio: {rate / raw_rate:.2f}")
    print(
        f"mailer, {args.mailboxes} mailboxes, from a full queue: {queue_rate:,.0f} messages/s "
        f"({queue_seconds:.2f} s, resumed to sent)"
    )
    print(f"  ratio: {queue_rate / raw_rate:.2f} (target ≥ {TARGET})")
    print(
        f"  (the {args.leads:,} StepDue were queued over {phases[0]:.2f} s; the first send was reserved "
        f"{phases[1]:.2f} s after the first was queued, the last settled {phases[2]:.2f} s after it)"
    )


SENT = "SELECT count(*) FROM mailer.sends WHERE campaign_id = %s AND state = 'sent'"
QUEUED = "SELECT count(*) FROM mailer.sends WHERE campaign_id = %s"


def campaign_events(
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    mailbox_ids: list[uuid.UUID],
    leads: int,
    status: CampaignStatus = CampaignStatus.ACTIVE,
) -> list[Event]:
    """The campaign's settings (its mailboxes, no limits) and one StepDue per lead, as the sequencer emits."""
    events: list[Event] = [
        CampaignUpdated(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            status=status,
            settings=CampaignSettingsData(mailbox_ids=mailbox_ids),
            steps=[StepData(subject="Quick question", body=BODY, delay_minutes=0)],
        )
    ]
    events += [
        StepDue(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            lead_id=uuid.uuid4(),
            step=1,
            total_steps=1,
            due_at=datetime.now(UTC),
            email=f"lead{n:06d}.{campaign_id.hex[:6]}@example.com",
            subject=SUBJECT.format(n=n),
            body=BODY,
        )
        for n in range(leads)
    ]
    return events


def check_sink(sent: list[tuple[str, str]], leads: int, phase: str) -> None:
    per_address = Counter(to for _, to in sent[:leads])
    if len(sent) < leads or len(per_address) != leads:
        raise BenchFailure(
            f"{phase}: the mailer delivered {len(sent)} messages to {len(per_address)} addresses"
        )


def spread(database_url: str, campaign_id: uuid.UUID) -> tuple[float, float, float]:
    """Where the service path's time went: queueing the StepDue, and the sends from the first queued."""
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM max(queued_at) - min(queued_at)),"
            " extract(epoch FROM min(reserved_at) - min(queued_at)),"
            " extract(epoch FROM max(sent_at) - min(queued_at))"
            " FROM mailer.sends WHERE campaign_id = %s",
            (campaign_id,),
        ).fetchone()
    assert row is not None
    return float(row[0]), float(row[1]), float(row[2])


if __name__ == "__main__":
    try:
        main()
    except BenchFailure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
