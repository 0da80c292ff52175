"""The whole verification pipeline on real peers: a dnslib DNS server and aiosmtpd MX servers on 127.0.0.x.

Every branch a user can meet: valid, unknown user, mailbox full, policy block, greylisted then accepted,
greylisted forever, catch-all, no MX with an A fallback, null MX, NXDOMAIN, a DNS timeout, an MX that
refuses connections, the secondary MX, the health guard — and `leadflow validate` printing it all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from contracts import Verdict
from services.validator.dns import MxResolver
from services.validator.health import ProbeHealth
from services.validator.smtp import SmtpProber
from services.validator.verdicts import Reason
from services.validator.verifier import Verifier
from tests.peers.fakedns import start, stop
from tests.peers.fakemx import FakeMx, MxBehaviour, free_port

ZONE = """
firma-test.cz.           0 IN MX 10 mx1.firma-test.cz.
mx1.firma-test.cz.       0 IN A 127.0.0.2
vse-berem.cz.            0 IN MX 10 mx.vse-berem.cz.
mx.vse-berem.cz.         0 IN A 127.0.0.3
bez-mx.cz.               0 IN A 127.0.0.4
zaloha.cz.               0 IN MX 10 mx1.zaloha.cz.
zaloha.cz.               0 IN MX 20 mx2.zaloha.cz.
mx1.zaloha.cz.           0 IN A 127.0.0.5
mx2.zaloha.cz.           0 IN A 127.0.0.6
odmita.cz.               0 IN MX 10 mx.odmita.cz.
mx.odmita.cz.            0 IN A 127.0.0.7
bez-posty.cz.            0 IN MX 0 .
""" + "".join(
    f"mrtva{i}.cz. 0 IN MX 10 mx.mrtva{i}.cz.\nmx.mrtva{i}.cz. 0 IN A 127.0.1.{i + 1}\n" for i in range(6)
)


@dataclass
class Peers:
    nameserver: str
    smtp_port: int
    mx1: FakeMx


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    dns, dns_port = start(ZONE, timeout_names=["pomaly.cz"])
    port = free_port()
    servers = [
        FakeMx(
            MxBehaviour(
                mailboxes={"jan.novak@firma-test.cz", "sales@firma-test.cz", "grey@firma-test.cz"},
                full={"plna@firma-test.cz"},
                blocked={"blok@firma-test.cz"},
                greylist_times={"grey@firma-test.cz": 1, "navzdy@firma-test.cz": 1000},
            ),
            port,
        ).start("127.0.0.2"),
        FakeMx(MxBehaviour(catch_all=True), port).start("127.0.0.3"),
        FakeMx(MxBehaviour(mailboxes={"petr@bez-mx.cz"}), port).start("127.0.0.4"),
        FakeMx(MxBehaviour(mailboxes={"eva@zaloha.cz"}), port).start("127.0.0.6"),
    ]
    try:
        yield Peers(f"127.0.0.1:{dns_port}", port, servers[0])
    finally:
        for server in servers:
            server.stop()
        stop(dns)


def verifier(peers: Peers, health: ProbeHealth | None = None) -> Verifier:
    health = health or ProbeHealth()
    return Verifier(
        MxResolver([peers.nameserver], timeout=0.3, tries=1),
        SmtpProber(
            port=peers.smtp_port,
            helo="probe.leadflow.cz",
            timeout=2.0,
            on_connect=lambda domain, ok: health.record(domain, connected=ok, now=0.0),
        ),
        greylist_retries=(0.05, 0.05),
        health=health,
        clock=lambda: 0.0,
    )


CASES = [
    ("jan.novak@firma-test.cz", Verdict.VALID, Reason.ACCEPTED, "mx1.firma-test.cz", 250),
    ("nikdo@firma-test.cz", Verdict.INVALID, Reason.MAILBOX_NOT_FOUND, "mx1.firma-test.cz", 550),
    ("plna@firma-test.cz", Verdict.INVALID, Reason.MAILBOX_FULL, "mx1.firma-test.cz", 552),
    ("blok@firma-test.cz", Verdict.UNKNOWN, Reason.POLICY_BLOCK, "mx1.firma-test.cz", 550),
    ("grey@firma-test.cz", Verdict.VALID, Reason.ACCEPTED, "mx1.firma-test.cz", 250),
    ("navzdy@firma-test.cz", Verdict.UNKNOWN, Reason.GREYLISTED, "mx1.firma-test.cz", 451),
    ("kdokoli@vse-berem.cz", Verdict.UNKNOWN, Reason.CATCH_ALL, "mx.vse-berem.cz", 250),
    ("petr@bez-mx.cz", Verdict.VALID, Reason.ACCEPTED, "bez-mx.cz", 250),
    ("eva@zaloha.cz", Verdict.VALID, Reason.ACCEPTED, "mx2.zaloha.cz", 250),
    ("nekdo@odmita.cz", Verdict.UNKNOWN, Reason.MX_UNREACHABLE, None, None),
    ("nekdo@bez-posty.cz", Verdict.INVALID, Reason.NULL_MX, None, None),
    ("nekdo@neexistuje.cz", Verdict.INVALID, Reason.NO_SUCH_DOMAIN, None, None),
    ("nekdo@pomaly.cz", Verdict.UNKNOWN, Reason.DNS_TIMEOUT, None, None),
    ("not an address", Verdict.INVALID, Reason.INVALID_SYNTAX, None, None),
]


async def test_every_branch_in_one_batch_in_input_order(peers: Peers) -> None:
    reported: list[int] = []
    results = await verifier(peers).verify_many([case[0] for case in CASES], reported.append)
    assert sum(reported) == len(CASES) and reported[0] == 1  # the one syntax rejection, at once
    got = [(r.email, r.verdict, r.reason, r.mx, r.smtp_code) for r in results]
    assert got == CASES
    catch_all = results[[c[0] for c in CASES].index("kdokoli@vse-berem.cz")]
    assert catch_all.catch_all


async def test_flags_and_one_session_per_domain(peers: Peers) -> None:
    peers.mx1.reset()
    results = await verifier(peers).verify_many(["sales@firma-test.cz", "jan.novak@firma-test.cz"])
    assert [(r.verdict, r.role) for r in results] == [(Verdict.VALID, True), (Verdict.VALID, False)]
    assert peers.mx1.connections == 1  # both addresses and the catch-all test on one connection
    assert peers.mx1.peak <= 2  # never above the per-MX limit
    rcpts = peers.mx1.rcpts("firma-test.cz")
    assert len(rcpts) == 3 and rcpts[0].startswith("lf-probe-")  # the random local part first


async def test_a_catch_all_domain_is_remembered(peers: Peers) -> None:
    checker = verifier(peers)
    first = await checker.verify("a@vse-berem.cz")
    second = await checker.verify("b@vse-berem.cz")
    assert first.reason == second.reason == Reason.CATCH_ALL
    assert second.smtp_code is None  # answered from the cache, not probed


async def test_health_guard_holds_leads_when_the_prober_is_blocked(peers: Peers) -> None:
    # Six unrelated domains whose MX hosts all refuse connections: the fault is ours.
    health = ProbeHealth(window_seconds=60, min_domains=5)
    checker = verifier(peers, health)
    results = await checker.verify_many([f"x@mrtva{i}.cz" for i in range(6)])
    assert checker.degraded
    assert results[-1].reason == Reason.PROBER_BLOCKED and results[-1].verdict == Verdict.UNKNOWN
    # One MX answering again clears it.
    assert (await checker.verify("jan.novak@firma-test.cz")).verdict == Verdict.VALID
    assert not checker.degraded


def test_cli_prints_one_json_object_per_address_in_order(peers: Peers) -> None:
    env = {
        **os.environ,
        "LEADFLOW_DNS_NAMESERVERS": peers.nameserver,
        "LEADFLOW_DNS_TIMEOUT_SECONDS": "0.3",
        "LEADFLOW_SMTP_PROBE_PORT": str(peers.smtp_port),
        "LEADFLOW_SMTP_PROBE_HELO": "probe.leadflow.cz",
        "LEADFLOW_VALIDATOR_GREYLIST_RETRY_SECONDS": "0.05",
        "LEADFLOW_VALIDATOR_DNS_CANARIES": "firma-test.cz,zaloha.cz",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "validate",
            "jan.novak@firma-test.cz",
            "nekdo@bez-posty.cz",
            "--file",
            "-",
        ],
        input="nikdo@firma-test.cz\nwith space@firma-test.cz\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["email"], x["verdict"], x["reason"]) for x in lines] == [
        ("jan.novak@firma-test.cz", "valid", "accepted"),
        ("nekdo@bez-posty.cz", "invalid", "null_mx"),
        ("nikdo@firma-test.cz", "invalid", "mailbox_not_found"),
        ("with space@firma-test.cz", "invalid", "invalid_syntax"),
    ]
    assert set(lines[0]) == {
        "email",
        "verdict",
        "reason",
        "mx",
        "smtp_code",
        "catch_all",
        "disposable",
        "role",
    }
    assert lines[0]["mx"] == "mx1.firma-test.cz" and lines[0]["smtp_code"] == 250
