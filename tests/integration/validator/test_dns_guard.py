"""The DNS health guard against a real resolver that breaks: a dnslib server switched, while the validator
runs, to answering NXDOMAIN for everything, to SERVFAIL, or to silence — then fixed again.

The runner runs for real (its worker loops and its canary watcher) on PostgreSQL, the verifier talks to
the dnslib server through aiodns and to aiosmtpd MX peers, and the test reads what it recorded: the
verdicts in the outbox and the held leads in `validator.validations`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text

from contracts.events import LeadsValidated, parse_event
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.validator.dns import MxResolver, check_canaries
from services.validator.dns_guard import DnsGuard
from services.validator.domain import ValidationState
from services.validator.health import DnsFault, DnsHealth, LookupOutcome, ProbeHealth
from services.validator.runner import ValidationRunner
from services.validator.smtp import SmtpProber
from services.validator.tables import metadata, outbox, validations
from services.validator.verdicts import Reason
from services.validator.verifier import Verifier
from tests.harness import eventually
from tests.peers.fakedns import Behaviour, FakeZone, start, stop, switchable, zone_of
from tests.peers.fakemx import FakeMx, MxBehaviour, free_port

ZONE = """
posta-overena.cz.     0 IN MX 10 mx.posta-overena.cz.
mx.posta-overena.cz.  0 IN A 127.0.0.9
firma-test.cz.        0 IN MX 10 mx1.firma-test.cz.
mx1.firma-test.cz.    0 IN A 127.0.0.2
druha-firma.cz.       0 IN MX 10 mx1.firma-test.cz.
"""
CANARY = "posta-overena.cz"
# The held-lead retry is far longer than any test waits: leads come back because DNS recovered.
HELD_RETRY = 300.0


@dataclass
class Peers:
    zone: FakeZone
    nameserver: str
    smtp_port: int


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    dns, dns_port = start(ZONE)
    port = free_port()
    mx = FakeMx(MxBehaviour(mailboxes={"jan.novak@firma-test.cz", "eva@druha-firma.cz"}), port).start(
        "127.0.0.2"
    )
    try:
        yield Peers(zone_of(dns), f"127.0.0.1:{dns_port}", port)
    finally:
        mx.stop()
        stop(dns)


@pytest.fixture
def fixed(peers: Peers) -> Iterator[Callable[[Behaviour], None]]:
    """Switch the resolver's behaviour; it serves its zone again after the test whatever happened."""
    with switchable(peers.zone) as switch:
        yield switch


@pytest.fixture
async def runner(migrated_database_url: str, nats_url: str, peers: Peers) -> AsyncIterator[ValidationRunner]:
    settings = Settings(
        nats_url=nats_url,
        database_url=migrated_database_url,
        dns_nameservers=peers.nameserver,
        dns_timeout_seconds=0.2,
        smtp_probe_port=peers.smtp_port,
        smtp_probe_helo="probe.leadflow.cz",
        smtp_probe_timeout_seconds=2,
        validator_greylist_retry_seconds="0.2",
        validator_held_retry_seconds=HELD_RETRY,
        validator_dns_canaries=CANARY,
        validator_dns_canary_interval_seconds=0.3,
    )
    service = Service(name="validator", metadata=metadata, settings=settings)
    async with service.sessions() as session, session.begin():
        await session.execute(text("DELETE FROM validator.validations"))
        await session.execute(text("DELETE FROM validator.outbox"))
    runner = ValidationRunner(service, Verifier.from_settings(settings, single_pass=True), settings)
    await runner.start()
    try:
        yield runner
    finally:
        await service.before_broker_stop()
        await service.engine.dispose()


async def queue(runner: ValidationRunner, emails: list[str]) -> dict[str, uuid.UUID]:
    ids = {email: uuid.uuid4() for email in emails}
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    async with runner.service.sessions() as session, session.begin():
        await session.execute(
            validations.insert(),
            [
                {"lead_id": i, "workspace_id": workspace_id, "campaign_id": campaign_id, "email": e}
                for e, i in ids.items()
            ],
        )
    runner.wake()
    return ids


async def verdicts(runner: ValidationRunner) -> dict[uuid.UUID, tuple[str, str]]:
    """Every verdict emitted so far (the outbox is not relayed here), by lead."""
    async with runner.service.sessions() as session:
        payloads = list(await session.scalars(select(outbox.c.payload)))
    found: dict[uuid.UUID, tuple[str, str]] = {}
    for payload in payloads:
        event = parse_event(payload)
        assert isinstance(event, LeadsValidated)
        for lead in event.leads:
            assert lead.lead_id not in found, "one verdict per lead and run"
            found[lead.lead_id] = (lead.verdict.value, lead.reason)
    return found


async def held(runner: ValidationRunner) -> dict[uuid.UUID, Any]:
    async with runner.service.sessions() as session:
        rows = await session.execute(
            select(validations.c.lead_id, validations.c.held_for).where(
                validations.c.state != ValidationState.DONE, validations.c.held
            )
        )
        return {lead_id: held_for for lead_id, held_for in rows}


BROKEN = [
    ("nxdomain", "resolver answers NXDOMAIN for known domains"),
    ("servfail", "DNS resolver unreachable"),
    ("silent", "DNS resolver unreachable"),
]


@pytest.mark.parametrize(("behaviour", "reason"), BROKEN)
async def test_a_broken_resolver_holds_leads_and_every_one_gets_its_real_verdict_once_it_is_fixed(
    runner: ValidationRunner, fixed: Callable[[Behaviour], None], behaviour: Behaviour, reason: str
) -> None:
    fixed(behaviour)
    ids = await queue(
        runner,
        [
            "jan.novak@firma-test.cz",
            "nikdo@firma-test.cz",
            "eva@druha-firma.cz",
            "x@neexistuje-nikde.cz",
            "not an address",
        ],
    )
    dependent = {ids[e] for e in ids if e != "not an address"}

    async def all_held() -> bool:
        return set(await held(runner)) == dependent

    await eventually(all_held, within=15)
    assert set((await held(runner)).values()) == {"dns"}
    # Nothing that depends on DNS got a verdict; the syntax error needs no DNS and got its own.
    assert await verdicts(runner) == {ids["not an address"]: ("invalid", "invalid_syntax")}
    assert runner.problems() == [reason]

    fixed("zone")
    started = time.monotonic()

    async def all_done() -> dict[uuid.UUID, tuple[str, str]] | None:
        found = await verdicts(runner)
        return found if len(found) == len(ids) else None

    found = await eventually(all_done, within=15)
    assert time.monotonic() - started < HELD_RETRY / 10  # released at once, not after the held wait
    assert {email: found[i] for email, i in ids.items()} == {
        "jan.novak@firma-test.cz": ("valid", "accepted"),
        "nikdo@firma-test.cz": ("invalid", "mailbox_not_found"),
        "eva@druha-firma.cz": ("valid", "accepted"),
        "x@neexistuje-nikde.cz": ("invalid", "no_such_domain"),  # a real NXDOMAIN, believed now
        "not an address": ("invalid", "invalid_syntax"),
    }
    assert runner.problems() == [] and await held(runner) == {}


def verifier(peers: Peers, interval: float) -> Verifier:
    nameservers = [peers.nameserver]

    async def canaries(domains: Any) -> dict[str, LookupOutcome]:
        return await check_canaries(nameservers, domains, query_timeout=0.2)

    return Verifier(
        MxResolver(nameservers, timeout=0.2, tries=1),
        SmtpProber(port=peers.smtp_port, helo="probe.leadflow.cz", timeout=2.0),
        health=ProbeHealth(),
        dns_guard=DnsGuard(DnsHealth(canaries=(CANARY,), interval_seconds=interval), canaries),
    )


async def test_the_first_failure_after_the_resolver_broke_is_never_believed(
    peers: Peers, fixed: Callable[[Behaviour], None]
) -> None:
    # The canaries are checked once an hour here: only the check the failure itself asks for can save it.
    checker = verifier(peers, interval=3600)
    assert (await checker.verify("jan.novak@firma-test.cz")).reason == Reason.ACCEPTED
    assert (await checker.verify("x@neexistuje-nikde.cz")).reason == Reason.NO_SUCH_DOMAIN  # DNS is fine
    fixed("nxdomain")
    result = await checker.verify("eva@druha-firma.cz")
    assert (result.verdict.value, result.reason) == ("unknown", Reason.DNS_UNHEALTHY)
    assert checker.dns_fault == DnsFault.NXDOMAIN
    fixed("zone")
    guard = checker.dns_guard
    assert guard is not None and await guard.check() is None
    # What the broken resolver said about druha-firma.cz was forgotten with the change.
    assert (await checker.verify("eva@druha-firma.cz")).reason == Reason.ACCEPTED


async def test_answers_cached_while_the_resolver_was_broken_are_forgotten(
    peers: Peers, fixed: Callable[[Behaviour], None]
) -> None:
    resolver = MxResolver([peers.nameserver], timeout=0.2, tries=1)
    fixed("nxdomain")
    assert (await resolver.lookup("firma-test.cz")).kind.outcome == LookupOutcome.NXDOMAIN
    fixed("zone")
    assert (await resolver.lookup("firma-test.cz")).kind.outcome == LookupOutcome.NXDOMAIN  # cached
    assert (await resolver.lookup("firma-test.cz", fresh=True)).kind.outcome == LookupOutcome.ANSWERED
    fixed("nxdomain")
    assert (await resolver.lookup("druha-firma.cz")).kind.outcome == LookupOutcome.NXDOMAIN
    fixed("zone")
    await resolver.reset()
    assert (await resolver.lookup("druha-firma.cz")).kind.outcome == LookupOutcome.ANSWERED
    assert (await resolver.lookup("firma-test.cz")).kind.outcome == LookupOutcome.ANSWERED  # kept
    await resolver.close()


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        ("zone", LookupOutcome.ANSWERED),
        ("nxdomain", LookupOutcome.NXDOMAIN),
        ("servfail", LookupOutcome.ERROR),
        ("silent", LookupOutcome.TIMEOUT),
    ],
)
async def test_canary_checks_tell_how_the_resolver_fails(
    peers: Peers, fixed: Callable[[Behaviour], None], behaviour: Behaviour, outcome: LookupOutcome
) -> None:
    fixed(behaviour)
    found = await check_canaries([peers.nameserver], [CANARY, "firma-test.cz"], query_timeout=0.2)
    assert found == {CANARY: outcome, "firma-test.cz": outcome}


async def test_a_canary_without_mx_records_is_a_failure(peers: Peers) -> None:
    found = await check_canaries([peers.nameserver], ["mx1.firma-test.cz"], query_timeout=0.2)
    assert found == {"mx1.firma-test.cz": LookupOutcome.NO_MX}


def run_cli(peers: Peers, *addresses: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LEADFLOW_DNS_NAMESERVERS": peers.nameserver,
        "LEADFLOW_DNS_TIMEOUT_SECONDS": "0.2",
        "LEADFLOW_SMTP_PROBE_PORT": str(peers.smtp_port),
        "LEADFLOW_SMTP_PROBE_HELO": "probe.leadflow.cz",
        "LEADFLOW_VALIDATOR_DNS_CANARIES": CANARY,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "validate", *addresses],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [("nxdomain", "resolver answers NXDOMAIN"), ("silent", "DNS resolver unreachable")],
)
def test_leadflow_validate_verifies_nothing_with_a_broken_resolver(
    peers: Peers, fixed: Callable[[Behaviour], None], behaviour: Behaviour, reason: str
) -> None:
    fixed(behaviour)
    done = run_cli(peers, "jan.novak@firma-test.cz", "x@neexistuje-nikde.cz")
    assert done.returncode == 2
    assert done.stdout == ""  # not one address called invalid because of the resolver
    assert f"DNS looks broken: {reason}" in done.stderr and CANARY in done.stderr
    assert "LEADFLOW_DNS_NAMESERVERS" in done.stderr

    fixed("zone")
    done = run_cli(peers, "jan.novak@firma-test.cz", "x@neexistuje-nikde.cz")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["reason"] for line in done.stdout.splitlines()] == ["accepted", "no_such_domain"]


def test_leadflow_validate_says_which_addresses_dns_left_unverified_when_it_breaks_mid_run(
    peers: Peers, fixed: Callable[[Behaviour], None]
) -> None:
    peers.zone.break_after(1, "nxdomain")  # the canary check passes; the next lookup meets a broken resolver
    done = run_cli(peers, "eva@druha-firma.cz", "not an address")
    assert done.returncode == 2
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["email"], x["verdict"], x["reason"]) for x in lines] == [
        ("eva@druha-firma.cz", "unknown", "dns_unhealthy"),
        ("not an address", "invalid", "invalid_syntax"),
    ]
    assert "DNS broke during the run" in done.stderr


async def test_a_fresh_verification_asks_the_dns_again_instead_of_the_cache(peers: Peers) -> None:
    checker = verifier(peers, interval=3600)
    peers.zone.load(ZONE.replace("druha-firma.cz.", "jina-firma.cz."))  # a zone that lacks it, for now
    try:
        assert (await checker.verify("eva@druha-firma.cz")).reason == Reason.NO_SUCH_DOMAIN
    finally:
        peers.zone.load(ZONE)
    assert (await checker.verify("eva@druha-firma.cz")).reason == Reason.NO_SUCH_DOMAIN  # the cache
    again = await checker.verify_many(["nikdo@druha-firma.cz", "eva@druha-firma.cz"], fresh=[1])
    assert [r.reason for r in again] == [Reason.MAILBOX_NOT_FOUND, Reason.ACCEPTED]  # the domain's, once
