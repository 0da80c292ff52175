"""`kill -9` of the mailer in the middle of 2,000 sends, then restarted: no (lead, step) is received twice,
and every send ends sent or uncertain; what the sink received is exactly the sent ones and some of the
uncertain ones. The sink is a process of its own (aiosmtpd), so it keeps receiving across the crash."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from nats.aio.client import Client

from contracts import CampaignUpdated
from contracts.campaign_settings import CampaignSettingsData, CampaignStatus, StepData
from contracts.events import StepDue
from services.runtime.db import psycopg_conninfo
from tests.e2e.api import workspace_id_of
from tests.harness import ServiceProcess, ServiceStack
from tests.peers.fakemx import free_port

SENDS = 2_000
MAILBOXES = 4


@pytest.fixture
def sink() -> Iterator[tuple[int, Path]]:
    port = free_port()
    out = Path(tempfile.mkdtemp(prefix="leadflow-sink-")) / "received.tsv"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.sink", str(port), str(out)], stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
        yield port, out
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def lone_mailer(stack: ServiceStack) -> Iterator[ServiceProcess]:
    """The stack's mailer is stopped for the test; this one (with short leases, so the sends its killed
    predecessor left under way turn uncertain soon, and those it had only taken are taken again soon)
    takes its place."""
    stack.services["mailer"].stop()
    mailer = stack.extra(
        "mailer", LEADFLOW_MAILER_SEND_LEASE_SECONDS="15", LEADFLOW_MAILER_CLAIM_LEASE_SECONDS="5"
    )
    try:
        yield mailer
    finally:
        mailer.stop()
        stack.services["mailer"].start()


def received(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [(m, to) for m, _, to in (line.partition("\t") for line in lines)]


def states(stack: ServiceStack, campaign_id: uuid.UUID) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(psycopg_conninfo(stack.database_url)) as conn:
        rows = conn.execute(
            "SELECT email, state, message_id FROM mailer.sends WHERE campaign_id = %s", (campaign_id,)
        ).fetchall()
    return {email: (state, message_id) for email, state, message_id in rows}


async def test_mailer_killed_mid_batch_sends_nothing_twice(
    client: httpx.AsyncClient,
    nc: Client,
    stack: ServiceStack,
    sink: tuple[int, Path],
    lone_mailer: ServiceProcess,
) -> None:
    port, out = sink
    lone_mailer.start()
    workspace_id = await workspace_id_of(client)
    mailbox_ids = []
    for n in range(MAILBOXES):
        smtp = {"host": "127.0.0.1", "port": port, "username": "u", "password": "p", "security": "none"}
        body = {"email": f"sender{n}@firma.cz", "name": "Sender", "smtp": smtp}
        response = await client.post(
            "/api/v1/mailboxes", json=body | {"daily_limit": 100_000, "min_gap_seconds": 0}
        )
        assert response.status_code == 201, response.text
        mailbox_ids.append(uuid.UUID(response.json()["id"]))
    campaign_id = uuid.uuid4()
    js = nc.jetstream()
    # Queued while the campaign is paused, then resumed: the kill falls in the middle of the sending, not of
    # the queueing (StepDue fetched by the killed mailer would only come back after the durable's ack wait).
    paused = CampaignUpdated(
        workspace_id=workspace_id,
        campaign_id=campaign_id,
        status=CampaignStatus.PAUSED,
        settings=CampaignSettingsData(mailbox_ids=mailbox_ids),
        steps=[StepData(subject="Hi", body="Hello", delay_minutes=0)],
    )
    await js.publish(paused.subject, paused.to_bytes(), headers={"Nats-Msg-Id": str(paused.event_id)})
    for i in range(SENDS):
        due = StepDue(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            lead_id=uuid.uuid4(),
            step=1,
            total_steps=1,
            due_at=datetime.now(UTC),
            email=f"lead{i:04d}@example.com",
            subject="Hi",
            body="Hello",
        )
        await js.publish(due.subject, due.to_bytes(), headers={"Nats-Msg-Id": str(due.event_id)})

    deadline = time.monotonic() + 120
    while len(states(stack, campaign_id)) < SENDS:
        assert time.monotonic() < deadline, "the StepDue were not all queued"
        await asyncio.sleep(0.2)
    resumed = paused.model_copy(
        update={"event_id": uuid.uuid4(), "status": CampaignStatus.ACTIVE, "occurred_at": datetime.now(UTC)}
    )
    await js.publish(resumed.subject, resumed.to_bytes(), headers={"Nats-Msg-Id": str(resumed.event_id)})

    deadline = time.monotonic() + 120
    while not 200 <= len(received(out)) < SENDS - 300:
        assert len(received(out)) < SENDS - 300 and time.monotonic() < deadline, "no kill window"
        await asyncio.sleep(0.01)
    lone_mailer.kill()
    at_kill = len(received(out))
    lone_mailer.start()

    deadline = time.monotonic() + 240
    while True:
        settled = states(stack, campaign_id)
        done = [s for s, _ in settled.values() if s in ("sent", "uncertain")]
        if len(done) == SENDS:
            break
        assert time.monotonic() < deadline, Counter(s for s, _ in settled.values())
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)

    got = received(out)
    assert at_kill < SENDS
    per_address = Counter(to for _, to in got)
    assert max(per_address.values()) == 1, [a for a, n in per_address.items() if n > 1][:5]
    assert len({m for m, _ in got}) == len(got)
    sent = {email for email, (state, _) in settled.items() if state == "sent"}
    uncertain = {email for email, (state, _) in settled.items() if state == "uncertain"}
    addresses = set(per_address)
    assert sent <= addresses, "a send recorded as sent never arrived"
    assert addresses <= sent | uncertain
    assert {m for m, _ in got} == {settled[to][1] for to in addresses}
