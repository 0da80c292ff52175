"""A campaign's leads out of the table: the CSV export of the list's filter, and the live SSE stream.

The stack runs no validator, so the tests publish `LeadValidated` events to JetStream themselves (as in
test_validation_summary.py): the gateway projects them into `lead_view`, and the projection's NOTIFY
is what the stream carries. Without a stack, the last tests pin the parts a slow client or a large batch
relies on: payloads under PostgreSQL's 8000-byte limit and a backlog that drops instead of blocking.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import h11
import httpx
import psycopg
import pytest
from nats.aio.client import Client

from contracts import CampaignCreated, LeadImported, LeadStatus, LeadStatusChanged
from contracts.events import MAX_BATCH, ImportedLead, LeadsRemoved, LeadsValidated, ValidatedLead, Verdict
from services.gateway.leads.export import EXPORT_BATCH, EXPORT_COLUMNS
from services.gateway.leads.live import LeadChangeHub, Subscriber
from services.gateway.projection.notifications import lead_change_notifications
from services.gateway.tables import lead_view
from services.runtime.db import psycopg_conninfo
from tests.e2e.api import (
    create_campaign,
    publish_verdict,
    start_import,
    wait_for_import,
    wait_for_leads,
    workspace_id_of,
)
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack, eventually

CSV = (
    "email,first_name,last_name,company,phone,segment\n"
    "zofie@example.com,Žofie,Dvořáková,Café Überlingen s.r.o.,+420 777 123 456,VIP\n"
    'eve@example.com,Eve,Hacker,"=HYPERLINK(""http://evil.example"",""click"")",,@risky\n'
    "adam@example.com,Adam,Novák,Acme,,\n"
    "bob@example.com,Bob,Builder,-Minus Corp,,\n"
).encode()
MAPPING = {
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "company_name": "company",
    "phone": "phone",
}
EVENT_WAIT_SECONDS = 30.0


async def import_leads(
    client: httpx.AsyncClient, campaign_id: str, csv_bytes: bytes, mapping: dict[str, str] | None = None
) -> str:
    started = await start_import(client, campaign_id, csv_bytes, mapping or {"email": "email"})
    done = await wait_for_import(client, started["id"])
    assert done["state"] == "completed", done
    return str(started["id"])


async def leads_by_email(
    client: httpx.AsyncClient, campaign_id: str, total: int
) -> dict[str, dict[str, Any]]:
    page = await wait_for_leads(client, campaign_id, total)
    return {item["email"]: item for item in page["items"]}


# --- export ----------------------------------------------------------------------------------------------


async def export(client: httpx.AsyncClient, campaign_id: str, **params: Any) -> list[dict[str, str]]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/leads/export.csv", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.content.startswith(b"\xef\xbb\xbf"), response.content[:20]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    return [dict(zip(header, row, strict=True)) for row in body]


async def test_export_streams_the_lists_filter_with_formulas_neutralised(
    client: httpx.AsyncClient, nc: Client
) -> None:
    workspace_id = await workspace_id_of(client)
    campaign_id = await create_campaign(client, "Export: Café leads")
    await import_leads(client, campaign_id, CSV, MAPPING)
    leads = await leads_by_email(client, campaign_id, 4)
    await publish_verdict(
        nc, workspace_id, campaign_id, leads["bob@example.com"], Verdict.INVALID, "mailbox_not_found"
    )
    await wait_for_leads(client, campaign_id, 1, status="invalid")

    everything = await export(client, campaign_id)
    assert [row["email"] for row in everything] == [
        "zofie@example.com",
        "eve@example.com",
        "adam@example.com",
        "bob@example.com",
    ]  # the list's order
    assert list(everything[0]) == [*EXPORT_COLUMNS, "segment"]  # one column per custom key
    by_email = {row["email"]: row for row in everything}
    zofie, eve, bob = by_email["zofie@example.com"], by_email["eve@example.com"], by_email["bob@example.com"]
    assert (zofie["first_name"], zofie["last_name"], zofie["company_name"]) == (
        "Žofie",
        "Dvořáková",
        "Café Überlingen s.r.o.",
    )
    assert zofie["id"] == leads["zofie@example.com"]["id"]
    assert zofie["segment"] == "VIP"
    assert zofie["phone"] == "'+420 777 123 456"
    assert eve["company_name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert eve["segment"] == "'@risky"
    assert by_email["adam@example.com"]["segment"] == ""
    assert bob["company_name"] == "'-Minus Corp"
    assert (bob["status"], bob["validation"], bob["validation_reason"]) == (
        "invalid",
        "invalid",
        "mailbox_not_found",
    )
    assert (zofie["status"], zofie["validation"], zofie["step"], zofie["total_steps"]) == (
        "pending",
        "pending",
        "0",
        "0",
    )
    datetime.fromisoformat(zofie["created_at"])
    datetime.fromisoformat(bob["last_activity_at"])

    invalid = await export(client, campaign_id, status="invalid")
    assert [row["email"] for row in invalid] == ["bob@example.com"]
    both = await export(client, campaign_id, status=["pending", "invalid"])
    assert len(both) == 4
    pending = await export(client, campaign_id, status="pending")
    assert {row["email"] for row in pending} == {"zofie@example.com", "eve@example.com", "adam@example.com"}
    accent_blind = await export(client, campaign_id, q="DVORAK")
    assert [row["email"] for row in accent_blind] == ["zofie@example.com"]
    assert [row["email"] for row in await export(client, campaign_id, q="acme", status="invalid")] == []
    assert [row["email"] for row in await export(client, campaign_id, validation="invalid")] == [
        "bob@example.com"
    ]
    # Nothing matches: still a CSV with its header.
    response = await client.get(
        f"/api/v1/campaigns/{campaign_id}/leads/export.csv", params={"q": "nobody-here"}
    )
    assert response.status_code == 200
    assert response.content.decode("utf-8-sig").splitlines() == [",".join(EXPORT_COLUMNS)]

    bogus = await client.get(f"/api/v1/campaigns/{campaign_id}/leads/export.csv", params={"status": "maybe"})
    assert bogus.status_code == 422, bogus.text


async def test_export_is_workspace_scoped(client: httpx.AsyncClient, stack: ServiceStack) -> None:
    campaign_id = await create_campaign(client, "Export: not yours")
    other_key = create_workspace_key(stack, "Export outsider")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        foreign = await other.get(f"/api/v1/campaigns/{campaign_id}/leads/export.csv")
        assert foreign.status_code == 404, foreign.text
        foreign_stream = await other.get(f"/api/v1/campaigns/{campaign_id}/leads/events")
        assert foreign_stream.status_code == 404, foreign_stream.text
    unknown = await client.get(f"/api/v1/campaigns/{uuid4()}/leads/export.csv")
    assert unknown.status_code == 404, unknown.text
    unknown_stream = await client.get(f"/api/v1/campaigns/{uuid4()}/leads/events")
    assert unknown_stream.status_code == 404, unknown_stream.text


async def _backend(stack: ServiceStack, condition: str) -> int | None:
    """The pid of the stack's database session that matches `condition` (on pg_stat_activity), if any."""
    async with await psycopg.AsyncConnection.connect(psycopg_conninfo(stack.database_url)) as admin:
        found = await (
            await admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                f"AND pid <> pg_backend_pid() AND {condition}"
            )
        ).fetchone()
    return None if found is None else int(found[0])


async def _terminate(stack: ServiceStack, pid: int) -> None:
    async with await psycopg.AsyncConnection.connect(
        psycopg_conninfo(stack.database_url), autocommit=True
    ) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", [pid])


async def test_an_export_whose_query_fails_answers_503_before_a_byte_of_csv(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    """The database connection dies while the export's first query waits (here: for a lock the test
    holds). The answer must say so, not be a 200 with a 3-byte body (the BOM)."""
    campaign_id = await create_campaign(client, "Export: the database goes away")
    await import_leads(client, campaign_id, b"email\nlocked@firma.cz\n")
    await wait_for_leads(client, campaign_id, 1)
    url = f"/api/v1/campaigns/{campaign_id}/leads/export.csv"
    locker = await psycopg.AsyncConnection.connect(psycopg_conninfo(stack.database_url))
    async with locker, locker.transaction():
        await locker.execute(f"LOCK TABLE {lead_view.fullname} IN ACCESS EXCLUSIVE MODE")
        exporting = asyncio.ensure_future(client.get(url))

        async def waiting_export() -> int | None:
            return await _backend(stack, "wait_event_type = 'Lock' AND query ILIKE '%jsonb_object_keys%'")

        await _terminate(stack, await eventually(waiting_export))
    response = await exporting
    assert response.status_code == 503, response.text
    assert response.json() == {"detail": "The leads could not be read; try the export again shortly."}
    assert [row["email"] for row in await export(client, campaign_id)] == ["locked@firma.cz"]


def largest_send_buffer() -> int:
    """How many bytes the kernel may buffer for one TCP socket that sends (tcp_wmem's maximum)."""
    return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])


async def test_an_export_that_fails_mid_way_breaks_off_without_its_last_chunk(
    client: httpx.AsyncClient, stack: ServiceStack, api_key: str
) -> None:
    """The database connection dies while the CSV is being sent: the download must break off (no
    terminating chunk, so every HTTP client reports an error), never end as a shorter file."""
    # A reader that stops reading leaves the server blocked only once the sockets' buffers are full: the
    # kernel lets a loopback socket buffer up to tcp_wmem's maximum (4 MB by default). Each exported lead
    # here is some 750 bytes, and a chunk's LeadImported stays within NATS's 1 MB.
    note = "n" * 500
    leads = max(3, math.ceil(largest_send_buffer() * 1.5 / 750 / EXPORT_BATCH)) * EXPORT_BATCH
    campaign_id = await create_campaign(client, "Export: broken off")
    await import_leads(
        client,
        campaign_id,
        ("email,note\n" + "".join(f"l{i}@firma.cz,{note}\n" for i in range(leads))).encode(),
    )
    await wait_for_leads(client, campaign_id, leads)

    gateway = urlsplit(stack.gateway_url)
    assert gateway.hostname is not None and gateway.port is not None
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server blocks after a few KB
    reader.settimeout(30)
    with reader:
        reader.connect((gateway.hostname, gateway.port))
        reader.sendall(
            f"GET /api/v1/campaigns/{campaign_id}/leads/export.csv HTTP/1.1\r\nHost: {gateway.netloc}\r\n"
            f"Authorization: Bearer {api_key}\r\nConnection: close\r\n\r\n".encode()
        )
        received = reader.recv(4096)
        assert received.startswith(b"HTTP/1.1 200"), received[:200]

        async def paused_export() -> int | None:
            return await _backend(stack, "state = 'idle in transaction' AND query ILIKE 'fetch%'")

        await _terminate(stack, await eventually(paused_export))
        while chunk := reader.recv(64 * 1024):
            received += chunk

    http = h11.Connection(h11.CLIENT)
    http.send(h11.Request(method="GET", target="/", headers=[("Host", "gateway")]))
    http.send(h11.EndOfMessage())
    http.receive_data(received)
    http.receive_data(b"")  # the server closed the connection
    body = b""
    with pytest.raises(h11.RemoteProtocolError, match="incomplete"):
        while (event := http.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.Response):
                assert event.status_code == 200
                assert (b"transfer-encoding", b"chunked") in event.headers
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            assert not isinstance(event, h11.EndOfMessage), "the broken export ended as if complete"
    rows = body.decode("utf-8-sig", errors="replace").count("@firma.cz")
    assert EXPORT_BATCH <= rows < leads


# --- live stream -----------------------------------------------------------------------------------------


@dataclass
class ServerSentEvent:
    event: str
    id: str | None
    data: dict[str, Any]


@dataclass
class EventStream:
    """An open SSE response read in the background: every event received, in order."""

    received: list[ServerSentEvent] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(
        self, match: Callable[[ServerSentEvent], bool], within: float = EVENT_WAIT_SECONDS
    ) -> ServerSentEvent:
        deadline = time.monotonic() + within
        seen = 0
        while True:
            for sse in self.received[seen:]:
                if match(sse):
                    return sse
            seen = len(self.received)
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no matching event within {within}s; got {self.received}"
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)

    async def read(self, response: httpx.Response) -> None:
        event, event_id, data = "message", None, ""
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue  # keep-alive comment
            if line == "":
                if data:
                    self.received.append(ServerSentEvent(event, event_id, json.loads(data)))
                    self.arrived.set()
                event, event_id, data = "message", None, ""
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "id":
                event_id = value
            elif name == "data":
                data = f"{data}\n{value}" if data else value


@contextlib.asynccontextmanager
async def lead_stream(
    client: httpx.AsyncClient, campaign_id: str, last_event_id: str | None = None
) -> AsyncIterator[EventStream]:
    """The campaign's stream, open and subscribed (its first event received) when this yields: `ready`,
    or `resync` when reconnecting with a Last-Event-ID."""
    stream = EventStream()
    timeout = httpx.Timeout(10.0, read=None)
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    url = f"/api/v1/campaigns/{campaign_id}/leads/events"
    async with client.stream("GET", url, headers=headers, timeout=timeout) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = asyncio.create_task(stream.read(response))
        try:
            first = await stream.wait_for(lambda sse: True, within=15)
            expected = "ready" if last_event_id is None else "resync"
            assert (first.event, first.data) == (expected, {"type": expected}), first
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reader


def mentions(sse: ServerSentEvent, import_ids: set[str], lead_ids: set[str]) -> bool:
    return sse.data.get("import_id") in import_ids or bool(lead_ids & set(sse.data.get("lead_ids", [])))


def is_change_of(lead_id: str) -> Callable[[ServerSentEvent], bool]:
    return lambda sse: sse.event == "lead_changed" and lead_id in sse.data["lead_ids"]


async def test_stream_carries_its_campaigns_imports_and_lead_changes_only(
    client: httpx.AsyncClient, nc: Client
) -> None:
    workspace_id = await workspace_id_of(client)
    mine = await create_campaign(client, "Stream: mine")
    other = await create_campaign(client, "Stream: other")
    async with lead_stream(client, mine) as mine_stream, lead_stream(client, other) as other_stream:
        other_import = await import_leads(client, other, b"email\nx@other.example.com\ny@other.example.com\n")
        my_import = await import_leads(
            client, mine, b"email\na@mine.example.com\nb@mine.example.com\nc@mine.example.com\n"
        )

        added = await mine_stream.wait_for(
            lambda sse: sse.event == "leads_added" and sse.data["import_id"] == my_import
        )
        assert added.data["type"] == "leads_added"
        assert (added.data["count"], added.data["lead_ids"], added.data["event_type"]) == (
            3,
            [],
            "lead_imported",
        )
        datetime.fromisoformat(added.data["at"])
        # The import's end is announced too: until its leads are listed, the table counts them as arriving.
        finished = await mine_stream.wait_for(
            lambda sse: sse.event == "import_finished" and sse.data["import_id"] == my_import
        )
        assert (finished.data["type"], finished.data["count"], finished.data["event_type"]) == (
            "import_finished",
            3,
            "import_completed",
        )
        await other_stream.wait_for(
            lambda sse: sse.event == "leads_added" and sse.data["import_id"] == other_import
        )

        my_leads = await leads_by_email(client, mine, 3)
        other_leads = await leads_by_email(client, other, 2)
        # The other campaign's change first, seen on its stream: were it leaked, it would reach ours first.
        other_lead = other_leads["x@other.example.com"]
        await publish_verdict(nc, workspace_id, other, other_lead, Verdict.VALID, "accepted")
        await other_stream.wait_for(is_change_of(other_lead["id"]))
        my_lead = my_leads["b@mine.example.com"]
        await publish_verdict(nc, workspace_id, mine, my_lead, Verdict.INVALID, "mailbox_not_found")
        changed = await mine_stream.wait_for(is_change_of(my_lead["id"]))
        assert changed.data["type"] == "lead_changed"
        assert (changed.data["lead_ids"], changed.data["count"], changed.data["event_type"]) == (
            [my_lead["id"]],
            1,
            "lead_validated",
        )
        datetime.fromisoformat(changed.data["at"])
        # What the table reloads on the event is already there: NOTIFY is sent on the projection's commit.
        row = (await client.get(f"/api/v1/leads/{my_lead['id']}")).json()
        assert row["validation"] == "invalid"

    other_ids = {lead["id"] for lead in other_leads.values()}
    my_ids = {lead["id"] for lead in my_leads.values()}
    assert not [sse for sse in mine_stream.received if mentions(sse, {other_import}, other_ids)]
    assert not [sse for sse in other_stream.received if mentions(sse, {my_import}, my_ids)]
    assert {sse.event for sse in mine_stream.received} <= {
        "ready",
        "leads_added",
        "import_finished",
        "lead_changed",
    }
    ids = [int(sse.id or "-1") for sse in mine_stream.received]
    assert ids == sorted(set(ids)), ids  # increasing, so a reconnect sends Last-Event-ID


async def test_stream_on_another_replica_hears_changes_projected_anywhere(
    client: httpx.AsyncClient, nc: Client, stack: ServiceStack, api_key: str
) -> None:
    """Two gateways share the projection's consumer, so one of them projects each event: a stream on
    either must still hear it (NOTIFY reaches every replica's listener)."""
    workspace_id = await workspace_id_of(client)
    campaign_id = await create_campaign(client, "Stream: replicas")
    await import_leads(client, campaign_id, b"email\none@replica.example.com\ntwo@replica.example.com\n")
    leads = await leads_by_email(client, campaign_id, 2)
    replica = stack.extra("gateway")
    replica.start()
    try:
        async with (
            httpx.AsyncClient(
                base_url=replica.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
            ) as replica_client,
            lead_stream(client, campaign_id) as first,
            lead_stream(replica_client, campaign_id) as second,
        ):
            for lead in leads.values():
                await publish_verdict(nc, workspace_id, campaign_id, lead, Verdict.VALID, "accepted")
            for lead in leads.values():
                await first.wait_for(is_change_of(lead["id"]))
                await second.wait_for(is_change_of(lead["id"]))
            # A reconnecting client is told to reload: NOTIFY keeps no history to replay.
            async with lead_stream(replica_client, campaign_id, last_event_id="7") as again:
                assert again.received[0].event == "resync"
    finally:
        replica.stop()


# --- the parts a large batch and a slow client rely on (no stack) ----------------------------------------


def test_notifications_stay_under_postgres_payload_limit() -> None:
    workspace_id, campaign_id, import_id = uuid4(), uuid4(), uuid4()
    imported = LeadImported(
        workspace_id=workspace_id,
        campaign_id=campaign_id,
        import_id=import_id,
        chunk=0,
        leads=[ImportedLead(lead_id=uuid4(), email=f"l{i}@example.com", row=i + 1) for i in range(MAX_BATCH)],
    )
    [payload] = lead_change_notifications(imported)
    assert len(payload.encode()) < 1000
    assert json.loads(payload) == {
        "workspace_id": str(workspace_id),
        "campaign_id": str(campaign_id),
        "event_type": "lead_imported",
        "at": imported.occurred_at.isoformat(),
        "type": "leads_added",
        "lead_ids": [],
        "count": MAX_BATCH,
        "import_id": str(import_id),
    }

    lead_ids = [uuid4() for _ in range(MAX_BATCH)]
    bulk = LeadStatusChanged(
        workspace_id=workspace_id,
        campaign_id=campaign_id,
        lead_ids=lead_ids,
        status=LeadStatus.INVALID,
        changed_by="test",
    )
    payloads = lead_change_notifications(bulk)
    assert all(len(p.encode()) <= 8000 for p in payloads)
    decoded = [json.loads(p) for p in payloads]
    assert [lead_id for d in decoded for lead_id in d["lead_ids"]] == [str(i) for i in lead_ids]
    assert all(d["count"] == len(d["lead_ids"]) and d["type"] == "lead_changed" for d in decoded)
    verdicts = LeadsValidated(
        workspace_id=workspace_id,
        campaign_id=campaign_id,
        leads=[
            ValidatedLead(lead_id=i, email=f"l{n}@example.com", verdict=Verdict.VALID, reason="accepted")
            for n, i in enumerate(lead_ids)
        ],
    )
    checked = [json.loads(p) for p in lead_change_notifications(verdicts)]
    assert len(checked) == 7 and all(len(p.encode()) <= 8000 for p in lead_change_notifications(verdicts))
    assert [lead_id for d in checked for lead_id in d["lead_ids"]] == [str(i) for i in lead_ids]
    assert {(d["type"], d["event_type"]) for d in checked} == {("lead_changed", "leads_validated")}
    removed = LeadsRemoved(
        workspace_id=workspace_id, campaign_id=campaign_id, lead_ids=lead_ids[:2], removed_by="test"
    )
    [gone] = [json.loads(p) for p in lead_change_notifications(removed)]
    assert (gone["type"], gone["lead_ids"], gone["event_type"]) == (
        "lead_changed",
        [str(i) for i in lead_ids[:2]],
        "leads_removed",
    )
    assert (
        lead_change_notifications(
            CampaignCreated(workspace_id=workspace_id, campaign_id=campaign_id, name="x")
        )
        == []
    )


async def test_a_slow_subscriber_loses_its_oldest_changes_and_is_told_to_resync() -> None:
    subscriber = Subscriber(uuid4(), uuid4(), backlog=3)
    for n in range(5):
        subscriber.offer({"n": n})
    lost, changes = await asyncio.wait_for(subscriber.next_changes(), 1)
    assert (lost, changes) == (True, [{"n": 2}, {"n": 3}, {"n": 4}])
    subscriber.offer({"n": 5})
    assert await asyncio.wait_for(subscriber.next_changes(), 1) == (False, [{"n": 5}])


async def test_the_hub_feeds_only_the_campaigns_own_subscribers() -> None:
    hub = LeadChangeHub("postgresql://unused")
    workspace_id, campaign_id = uuid4(), uuid4()
    with (
        hub.subscribe(workspace_id, campaign_id) as mine,
        hub.subscribe(workspace_id, uuid4()) as other_campaign,
        hub.subscribe(uuid4(), campaign_id) as other_workspace,
    ):
        change = {
            "type": "lead_changed",
            "lead_ids": ["x"],
            "count": 1,
            "event_type": "lead_validated",
            "at": "t",
        }
        hub.dispatch(
            json.dumps({**change, "workspace_id": str(workspace_id), "campaign_id": str(campaign_id)})
        )
        hub.dispatch("not json")
        assert await asyncio.wait_for(mine.next_changes(), 1) == (False, [change])
        for subscriber in (other_campaign, other_workspace):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(subscriber.next_changes(), 0.05)
