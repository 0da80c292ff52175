"""The validator service end to end: import → every lead verified by itself → LeadsValidated → leads table.

Its own NATS and database (a durable validator consumer on the shared session stream would also verify
every other test's leads), a dnslib DNS server and aiosmtpd MX peers; the validator process is pointed at
them by environment, as a real deployment is pointed at real resolvers and port 25.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import nats
import pytest

from contracts import LeadImported
from contracts.events import LeadsValidated
from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from tests.e2e.api import create_campaign, start_import, stream_events, wait_for_import
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack, temporary_nats
from tests.peers.fakedns import start as start_dns
from tests.peers.fakedns import stop as stop_dns
from tests.peers.fakemx import FakeMx, MxBehaviour, free_port

ZONE = """
posta-overena.cz.   0 IN MX 10 mx1.firma-test.cz.
firma-test.cz.      0 IN MX 10 mx1.firma-test.cz.
mx1.firma-test.cz.  0 IN A 127.0.0.2
vse-berem.cz.       0 IN MX 10 mx.vse-berem.cz.
mx.vse-berem.cz.    0 IN A 127.0.0.3
bez-posty.cz.       0 IN MX 0 .
""" + "".join(
    f"mrtva{i}.cz. 0 IN MX 10 mx.mrtva{i}.cz.\nmx.mrtva{i}.cz. 0 IN A 127.0.1.{i + 1}\n" for i in range(6)
)
ROWS = [
    ("jan.novak@firma-test.cz", "valid", "accepted", "pending"),
    ("grey@firma-test.cz", "valid", "accepted", "pending"),  # greylisted once: re-queued, then accepted
    ("nikdo@firma-test.cz", "invalid", "mailbox_not_found", "invalid"),
    ("plna@firma-test.cz", "invalid", "mailbox_full", "invalid"),
    ("info@vse-berem.cz", "unknown", "catch_all", "pending"),
    ("x@bez-posty.cz", "invalid", "null_mx", "invalid"),
    ("y@neexistuje-nikde.cz", "invalid", "no_such_domain", "invalid"),
]


@dataclass
class ValidatorStack:
    stack: ServiceStack
    mx1: FakeMx
    api_key: str


@pytest.fixture(scope="module")
def validator_stack(fresh_database_url_session: Callable[[], str]) -> Iterator[ValidatorStack]:
    with temporary_nats() as nats_server:
        dns, dns_port = start_dns(ZONE)
        port = free_port()
        mx1 = FakeMx(
            MxBehaviour(
                mailboxes={"jan.novak@firma-test.cz", "grey@firma-test.cz"},
                full={"plna@firma-test.cz"},
                greylist_times={"grey@firma-test.cz": 1},
            ),
            port,
        ).start("127.0.0.2")
        mx2 = FakeMx(MxBehaviour(catch_all=True), port).start("127.0.0.3")
        stack = ServiceStack(nats=nats_server, database_url=fresh_database_url_session())
        try:
            migrations.upgrade(stack.database_url, MIGRATED_SERVICES)
            stack.start("sequencer", "importer", "gateway")
            validator = stack.add(
                "validator",
                LEADFLOW_DNS_NAMESERVERS=f"127.0.0.1:{dns_port}",
                LEADFLOW_DNS_TIMEOUT_SECONDS="0.5",
                LEADFLOW_SMTP_PROBE_PORT=str(port),
                LEADFLOW_SMTP_PROBE_HELO="probe.leadflow.cz",
                LEADFLOW_SMTP_PROBE_TIMEOUT_SECONDS="3",
                LEADFLOW_VALIDATOR_GREYLIST_RETRY_SECONDS="0.5,0.5",
                LEADFLOW_VALIDATOR_DNS_CANARIES="posta-overena.cz",
            )
            validator.start()
            yield ValidatorStack(stack, mx1, create_workspace_key(stack, "Validator test"))
        finally:
            stack.stop()
            mx1.stop()
            mx2.stop()
            stop_dns(dns)


@pytest.fixture
async def client(validator_stack: ValidatorStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=validator_stack.stack.gateway_url,
        headers={"Authorization": f"Bearer {validator_stack.api_key}"},
        timeout=30,
    ) as http:
        yield http


async def wait_validated(client: httpx.AsyncClient, campaign_id: str, count: int) -> list[dict[str, Any]]:
    for _ in range(300):
        page = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 100})).json()
        items: list[dict[str, Any]] = page["items"]
        if len(items) == count and all(i["validation"] != "pending" for i in items):
            return items
        await asyncio.sleep(0.2)
    raise AssertionError(f"leads not all validated: {items}")


async def test_imported_leads_are_verified_by_themselves(
    client: httpx.AsyncClient, validator_stack: ValidatorStack
) -> None:
    campaign_id = await create_campaign(client, "validated")
    body = "email\n" + "".join(f"{email}\n" for email, *_ in ROWS)
    started = await start_import(client, campaign_id, body.encode(), {"email": "email"})
    assert (await wait_for_import(client, started["id"]))["counts"]["imported"] == len(ROWS)

    items = {i["email"]: i for i in await wait_validated(client, campaign_id, len(ROWS))}
    assert {email: (i["validation"], i["validation_reason"], i["status"]) for email, i in items.items()} == {
        email: (verdict, reason, status) for email, verdict, reason, status in ROWS
    }

    # Exactly one verdict per lead, whatever was retried, in batches; and a redelivered LeadImported (a
    # copy under a new message id, as after a lost ack) probes nothing and emits nothing more.
    workspace_id = str((await client.get("/api/v1/workspace")).json()["id"])
    imported = [e for e in await stream_events(validator_stack.stack.nats_url, workspace_id, "lead_imported")]
    assert len(imported) == 1 and isinstance(imported[0], LeadImported)
    rcpts_before = Counter(validator_stack.mx1.rcpts("firma-test.cz"))
    nc = await nats.connect(validator_stack.stack.nats_url)
    try:
        await nc.jetstream().publish(
            imported[0].subject, imported[0].to_bytes(), headers={"Nats-Msg-Id": str(uuid.uuid4())}
        )
    finally:
        await nc.close()
    await asyncio.sleep(3)
    assert Counter(validator_stack.mx1.rcpts("firma-test.cz")) == rcpts_before
    validated = await stream_events(validator_stack.stack.nats_url, workspace_id, "leads_validated")
    assert all(isinstance(e, LeadsValidated) for e in validated)
    assert len(validated) < len(ROWS)  # batched: the first pass's verdicts travel together
    verdicts = [lead for e in validated for lead in e.leads]
    assert sorted(v.email for v in verdicts) == sorted(email for email, *_ in ROWS)
    assert {v.run for v in verdicts} == {0}
    assert await stream_events(validator_stack.stack.nats_url, workspace_id, "lead_validated") == []
    # The greylisted address was asked twice (first pass, retry), every other one once.
    assert rcpts_before["grey@firma-test.cz"] == 2 and rcpts_before["jan.novak@firma-test.cz"] == 1


def test_validator_is_ready(validator_stack: ValidatorStack) -> None:
    response = httpx.get(validator_stack.stack.services["validator"].health_url, timeout=5)
    assert response.status_code == 200 and response.text == "ready"


async def test_a_blocked_prober_holds_leads_instead_of_marking_them_unknown(
    client: httpx.AsyncClient, validator_stack: ValidatorStack
) -> None:
    # Six unrelated domains whose MX hosts all refuse connections (nothing listens there): to the
    # validator this looks like port 25 blocked for it, not six broken domains. Runs last in the module:
    # it leaves the validator degraded until a probe succeeds again.
    campaign_id = await create_campaign(client, "blocked prober")
    body = "email\n" + "".join(f"lead@mrtva{i}.cz\n" for i in range(6))
    started = await start_import(client, campaign_id, body.encode(), {"email": "email"})
    assert (await wait_for_import(client, started["id"]))["counts"]["imported"] == 6

    summary: dict[str, Any] = {}
    for _ in range(150):
        summary = (await client.get(f"/api/v1/campaigns/{campaign_id}/validation")).json()
        if summary["validator"]["state"] == "degraded" and summary["validator"]["held"] == 6:
            break
        await asyncio.sleep(0.2)
    assert summary["validator"] == {
        "state": "degraded",
        "queued": 6,
        "held": 6,
        "reason": "SMTP probes fail across many unrelated domains (port 25 blocked or the prober listed?)",
    }, summary
    # Held, not poisoned: no lead got a verdict, and the validator says why it is not ready.
    assert summary["in_progress"] == 6 and summary["unknown"] == 0
    async with httpx.AsyncClient(timeout=5) as http:
        ready = await http.get(validator_stack.stack.services["validator"].health_url)
    assert ready.status_code == 503 and "degraded: SMTP probes fail" in ready.text
