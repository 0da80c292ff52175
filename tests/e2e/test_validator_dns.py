"""A broken DNS resolver, end to end: no lead is poisoned, the user is told why, and a re-run mends what
a resolver got wrong before it was fixed.

The whole stack with a validator, on its own NATS and database (see test_validator.py), pointed at a
dnslib server whose behaviour the tests switch while everything runs: serving its zone, answering
NXDOMAIN for every name, or never answering.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from tests.e2e.api import create_campaign, refusal, start_import, wait_for_import
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack, eventually, temporary_nats
from tests.peers.fakedns import Behaviour, FakeZone, switchable, zone_of
from tests.peers.fakedns import start as start_dns
from tests.peers.fakedns import stop as stop_dns
from tests.peers.fakemx import FakeMx, MxBehaviour, free_port

ZONE = """
posta-overena.cz.   0 IN MX 10 mx1.firma-test.cz.
firma-test.cz.      0 IN MX 10 mx1.firma-test.cz.
mx1.firma-test.cz.  0 IN A 127.0.0.2
""" + "".join(
    # Domains of their own for each broken-resolver case: the validator keeps what a healthy resolver
    # answered (an hour), so domains an earlier test looked up would not meet the broken one at all.
    f"{case}-firma.cz. 0 IN MX 10 mx1.firma-test.cz.\n{case}-druha.cz. 0 IN MX 10 mx1.firma-test.cz.\n"
    for case in ("nxdomain", "silent")
)
# A company whose domain the resolver did not know at first (a stale zone, a split-horizon mistake).
NEW_DOMAIN = "nova-firma.cz.    0 IN MX 10 mx1.firma-test.cz.\n"
MAILBOXES = {"petr@nova-firma.cz"} | {
    f"{who}@{case}-{domain}.cz"
    for case in ("nxdomain", "silent")
    for who, domain in (("jan.novak", "firma"), ("eva", "druha"))
}


def leads_of(case: str) -> dict[str, tuple[str, str, str]]:
    """The case's leads, and the (status, validation, reason) each ends with."""
    return {
        f"jan.novak@{case}-firma.cz": ("pending", "valid", "accepted"),
        f"nikdo@{case}-firma.cz": ("invalid", "invalid", "mailbox_not_found"),
        f"eva@{case}-druha.cz": ("pending", "valid", "accepted"),
        f"x@{case}-neexistuje.cz": ("invalid", "invalid", "no_such_domain"),
    }


HELD_RETRY = "300"  # far longer than any test waits: held leads come back because DNS recovered


@dataclass
class DnsStack:
    stack: ServiceStack
    zone: FakeZone
    api_key: str
    other_key: str

    @property
    def readyz(self) -> str:
        return self.stack.services["validator"].health_url


@pytest.fixture(scope="module")
def dns_stack(fresh_database_url_session: Callable[[], str]) -> Iterator[DnsStack]:
    with temporary_nats() as nats_server:
        dns, dns_port = start_dns(ZONE)
        port = free_port()
        mx = FakeMx(MxBehaviour(mailboxes=MAILBOXES), port).start("127.0.0.2")
        stack = ServiceStack(nats=nats_server, database_url=fresh_database_url_session())
        try:
            migrations.upgrade(stack.database_url, MIGRATED_SERVICES)
            stack.start("sequencer", "importer", "gateway")
            stack.add(
                "validator",
                LEADFLOW_DNS_NAMESERVERS=f"127.0.0.1:{dns_port}",
                LEADFLOW_DNS_TIMEOUT_SECONDS="0.3",
                LEADFLOW_SMTP_PROBE_PORT=str(port),
                LEADFLOW_SMTP_PROBE_HELO="probe.leadflow.cz",
                LEADFLOW_SMTP_PROBE_TIMEOUT_SECONDS="3",
                LEADFLOW_VALIDATOR_DNS_CANARIES="posta-overena.cz",
                LEADFLOW_VALIDATOR_DNS_CANARY_INTERVAL_SECONDS="0.5",
                LEADFLOW_VALIDATOR_HELD_RETRY_SECONDS=HELD_RETRY,
            ).start()
            yield DnsStack(
                stack,
                zone_of(dns),
                create_workspace_key(stack, "DNS test"),
                create_workspace_key(stack, "Someone else"),
            )
        finally:
            stack.stop()
            mx.stop()
            stop_dns(dns)


@pytest.fixture
async def client(dns_stack: DnsStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=dns_stack.stack.gateway_url,
        headers={"Authorization": f"Bearer {dns_stack.api_key}"},
        timeout=30,
    ) as http:
        yield http


@pytest.fixture
def resolver(dns_stack: DnsStack) -> Iterator[Callable[[Behaviour], None]]:
    """Switch the resolver's behaviour; it serves the original zone again after the test."""
    with switchable(dns_stack.zone) as switch:
        yield switch
    dns_stack.zone.load(ZONE)


async def import_leads(client: httpx.AsyncClient, name: str, emails: list[str]) -> str:
    campaign_id = await create_campaign(client, name)
    body = "email\n" + "".join(f"{email}\n" for email in emails)
    started = await start_import(client, campaign_id, body.encode(), {"email": "email"})
    assert (await wait_for_import(client, started["id"]))["counts"]["imported"] == len(emails)
    return campaign_id


async def leads(client: httpx.AsyncClient, campaign_id: str) -> dict[str, dict[str, Any]]:
    page = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 100})).json()
    return {item["email"]: item for item in page["items"]}


async def summary(client: httpx.AsyncClient, campaign_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/validation")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("nxdomain", "resolver answers NXDOMAIN for known domains"),
        ("silent", "DNS resolver unreachable"),
    ],
)
async def test_a_broken_resolver_poisons_no_lead_says_why_and_every_lead_gets_its_verdict_once_fixed(
    client: httpx.AsyncClient,
    dns_stack: DnsStack,
    resolver: Callable[[Behaviour], None],
    behaviour: Behaviour,
    reason: str,
) -> None:
    expected = leads_of(behaviour)
    resolver(behaviour)
    campaign_id = await import_leads(client, f"broken resolver ({behaviour})", list(expected))

    async def degraded_and_all_held() -> dict[str, Any] | None:
        body = await summary(client, campaign_id)
        done = body["validator"]["held"] == body["total"] == len(expected)
        return body if done else None

    body = await eventually(degraded_and_all_held)
    assert body["validator"] == {"state": "degraded", "queued": 4, "held": 4, "reason": reason}
    assert (body["validated"], body["in_progress"], body["invalid"]) == (0, 4, 0)
    async with httpx.AsyncClient(timeout=5) as http:
        ready = await http.get(dns_stack.readyz)
    assert ready.status_code == 503 and ready.text == f"degraded: {reason}"
    # No lead is Invalid, and none has a verdict: they wait.
    assert {(i["status"], i["validation"]) for i in (await leads(client, campaign_id)).values()} == {
        ("pending", "pending")
    }

    resolver("zone")
    started = time.monotonic()

    async def all_verified() -> dict[str, dict[str, Any]] | None:
        found = await leads(client, campaign_id)
        return found if all(i["validation"] != "pending" for i in found.values()) else None

    found = await eventually(all_verified)
    assert time.monotonic() - started < float(HELD_RETRY) / 10  # at once, not after the held wait
    assert {e: (i["status"], i["validation"], i["validation_reason"]) for e, i in found.items()} == expected
    after = await summary(client, campaign_id)
    assert after["validator"] == {"state": "ok", "queued": 0, "held": 0, "reason": None}
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(dns_stack.readyz)).status_code == 200


async def test_a_rerun_mends_a_lead_a_resolver_called_invalid_before_it_was_fixed(
    client: httpx.AsyncClient, dns_stack: DnsStack, resolver: Callable[[Behaviour], None]
) -> None:
    # The resolver answers for the canary and every other domain, just not (yet) for nova-firma.cz: the
    # health guard has nothing to catch, and the lead is Invalid — wrongly, as it turns out.
    campaign_id = await import_leads(client, "stale zone", ["petr@nova-firma.cz", "nikdo@firma-test.cz"])

    async def verified() -> dict[str, dict[str, Any]] | None:
        found = await leads(client, campaign_id)
        return found if all(i["validation"] != "pending" for i in found.values()) else None

    first = await eventually(verified)
    petr = first["petr@nova-firma.cz"]
    assert (petr["status"], petr["validation_reason"]) == ("invalid", "no_such_domain")

    dns_stack.zone.load(ZONE + NEW_DOMAIN)  # the resolver is fixed
    url = f"/api/v1/campaigns/{campaign_id}/validation/rerun"
    rerun = await client.post(url, json={"reasons": ["no_such_domain"]})
    assert rerun.status_code == 202, rerun.text
    assert rerun.json() == {"queued": 1}
    again = await client.post(url, json={"reasons": ["no_such_domain"]})
    assert again.json() == {"queued": 0}  # a double click queues nothing twice

    async def mended() -> dict[str, Any] | None:
        lead = (await leads(client, campaign_id))["petr@nova-firma.cz"]
        return lead if lead["validation"] == "valid" else None

    lead = await eventually(mended)
    assert (lead["status"], lead["validation_reason"]) == ("pending", "accepted")  # back from Invalid
    other = (await leads(client, campaign_id))["nikdo@firma-test.cz"]
    assert (other["status"], other["validation_reason"]) == ("invalid", "mailbox_not_found")  # not re-run
    detail = (await client.get(f"/api/v1/leads/{lead['id']}")).json()
    verdicts = [
        (entry["summary"].get("verdict"), entry["summary"].get("reason"))
        for entry in detail["timeline"]
        if entry["source"] == "validator"
    ]
    assert verdicts == [("invalid", "no_such_domain"), ("valid", "accepted")]


async def test_rerun_requests_are_checked_and_workspace_scoped(
    client: httpx.AsyncClient, dns_stack: DnsStack
) -> None:
    campaign_id = await create_campaign(client, "rerun checks")
    url = f"/api/v1/campaigns/{campaign_id}/validation/rerun"
    bogus = await client.post(url, json={"reasons": ["no_such_domain", "dns_brokenness", "nope"]})
    message = refusal(bogus)
    assert message.startswith("Unknown reason codes: dns_brokenness, nope.")
    assert "no_such_domain" in message.split("Valid reason codes:")[1]  # the valid ones are listed
    bodies: list[dict[str, list[str]] | None] = [{}, {"reasons": []}, None]
    for body in bodies:
        empty = await client.post(url, json=body) if body is not None else await client.post(url)
        assert (empty.status_code, empty.json()) == (202, {"queued": 0}), empty.text
    extra = await client.post(url, json={"reason": ["no_such_domain"]})
    assert extra.status_code == 422  # a misspelt key never widens the re-run to every lead
    async with httpx.AsyncClient(
        base_url=dns_stack.stack.gateway_url,
        headers={"Authorization": f"Bearer {dns_stack.other_key}"},
        timeout=30,
    ) as other:
        assert (await other.post(url, json={})).status_code == 404
