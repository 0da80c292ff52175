"""MxResolver against a real DNS server (dnslib on loopback), through the real aiodns/c-ares stack.

Every record has TTL 0: c-ares keeps its own per-channel query cache keyed on the record TTL, and with a
non-zero TTL it would answer repeat queries itself, so the query counts below would prove nothing about
MxResolver's own cache.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.validator.dns import FAILURE_CACHE_TTL, MailHost, MxKind, MxLookup, MxResolver
from tests.peers.fakedns import FakeZone, fake_dns, start, stop, zone_of

ZONE = """
firma-test.cz.                  0 IN MX 20 mx2.firma-test.cz.
firma-test.cz.                  0 IN MX 10 mx1.firma-test.cz.
mx1.firma-test.cz.              0 IN A 127.0.0.2
mx2.firma-test.cz.              0 IN A 127.0.0.3
mx2.firma-test.cz.              0 IN A 127.0.0.4

stejna-priorita.cz.             0 IN MX 10 mx-b.stejna-priorita.cz.
stejna-priorita.cz.             0 IN MX 10 MX-A.stejna-priorita.cz.
stejna-priorita.cz.             0 IN MX 5 mx-c.stejna-priorita.cz.
mx-a.stejna-priorita.cz.        0 IN A 127.0.0.5
mx-b.stejna-priorita.cz.        0 IN A 127.0.0.6
mx-c.stejna-priorita.cz.        0 IN A 127.0.0.7

mx-fallback.example-mail.cz.    0 IN A 127.0.0.8
ipv6.example-mail.cz.           0 IN AAAA ::1

bez-posty.cz.                   0 IN MX 0 .
jen-txt.cz.                     0 IN TXT "v=spf1 -all"

napul-mrtvy.cz.                 0 IN MX 10 mx-nikde.napul-mrtvy.cz.
napul-mrtvy.cz.                 0 IN MX 20 mx6.napul-mrtvy.cz.
napul-mrtvy.cz.                 0 IN MX 30 mx-pomaly.napul-mrtvy.cz.
mx6.napul-mrtvy.cz.             0 IN AAAA ::1

mrtvy.cz.                       0 IN MX 10 mx1.mrtvy.cz.
mrtvy.cz.                       0 IN MX 20 mx2.mrtvy.cz.
mx1.mrtvy.cz.                   0 IN TXT "no address here"

kes.firma-test.cz.              0 IN MX 10 mx1.firma-test.cz.
expirace.firma-test.cz.         0 IN MX 10 mx1.firma-test.cz.
soubeh.firma-test.cz.           0 IN MX 10 mx1.firma-test.cz.
"""

SLOW = ("pomaly-dns.cz", "mx-pomaly.napul-mrtvy.cz")


@dataclass
class Dns:
    """The module's DNS server: where to point a resolver, and the zone that counts its queries."""

    nameserver: str
    zone: FakeZone

    def resolver(self) -> MxResolver:
        """A fresh resolver (empty cache) with a short timeout, so the timeout cases stay quick."""
        return MxResolver([self.nameserver], timeout=0.3, tries=1)


@pytest.fixture(scope="module")
def dns() -> Iterator[Dns]:
    server, port = start(ZONE, timeout_names=SLOW)
    try:
        yield Dns(f"127.0.0.1:{port}", zone_of(server))
    finally:
        stop(server)


class FakeClock:
    """An injectable monotonic clock, advanced by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _hosts(*hosts: tuple[int, str, tuple[str, ...]]) -> tuple[MailHost, ...]:
    return tuple(MailHost(p, h, a) for p, h, a in hosts)


@pytest.mark.parametrize(
    ("domain", "kind", "hosts"),
    [
        pytest.param(
            "firma-test.cz",
            MxKind.MX,
            _hosts(
                (10, "mx1.firma-test.cz", ("127.0.0.2",)),
                (20, "mx2.firma-test.cz", ("127.0.0.3", "127.0.0.4")),
            ),
            id="mx-priority-order",
        ),
        pytest.param(
            "stejna-priorita.cz",
            MxKind.MX,
            _hosts(
                (5, "mx-c.stejna-priorita.cz", ("127.0.0.7",)),
                (10, "MX-A.stejna-priorita.cz", ("127.0.0.5",)),
                (10, "mx-b.stejna-priorita.cz", ("127.0.0.6",)),
            ),
            id="equal-priority-by-name",
        ),
        pytest.param(
            "mx-fallback.example-mail.cz",
            MxKind.IMPLICIT,
            _hosts((0, "mx-fallback.example-mail.cz", ("127.0.0.8",))),
            id="implicit-from-a",
        ),
        pytest.param(
            "ipv6.example-mail.cz",
            MxKind.IMPLICIT,
            _hosts((0, "ipv6.example-mail.cz", ("::1",))),
            id="implicit-from-aaaa",
        ),
        pytest.param("bez-posty.cz", MxKind.NULL, (), id="null-mx"),
        pytest.param("neexistuje.firma-test.cz", MxKind.NXDOMAIN, (), id="nxdomain"),
        pytest.param("jen-txt.cz", MxKind.NO_MAIL, (), id="no-mail"),
        pytest.param(
            "napul-mrtvy.cz",
            MxKind.MX,
            _hosts(
                (10, "mx-nikde.napul-mrtvy.cz", ()),
                (20, "mx6.napul-mrtvy.cz", ("::1",)),
                (30, "mx-pomaly.napul-mrtvy.cz", ()),
            ),
            id="hosts-without-address-kept-empty",
        ),
        pytest.param(
            "mrtvy.cz",
            MxKind.MX,
            _hosts((10, "mx1.mrtvy.cz", ()), (20, "mx2.mrtvy.cz", ())),
            id="no-host-has-an-address",
        ),
        pytest.param("pomaly-dns.cz", MxKind.TIMEOUT, (), id="timeout"),
        pytest.param("a..b.cz", MxKind.ERROR, (), id="malformed-name-error"),
    ],
)
async def test_lookup(dns: Dns, domain: str, kind: MxKind, hosts: tuple[MailHost, ...]) -> None:
    result = await dns.resolver().lookup(domain)
    assert result == MxLookup(domain, kind, hosts)


async def test_order_is_deterministic_across_lookups(dns: Dns) -> None:
    """Equal-preference hosts come back in the same order every time, whatever order DNS sent them in."""
    orders = {
        tuple(h.host for h in (await dns.resolver().lookup("stejna-priorita.cz")).hosts) for _ in range(5)
    }
    assert orders == {("mx-c.stejna-priorita.cz", "MX-A.stejna-priorita.cz", "mx-b.stejna-priorita.cz")}


async def test_domain_is_normalised(dns: Dns) -> None:
    result = await dns.resolver().lookup("Firma-Test.CZ.")
    assert result.domain == "firma-test.cz"
    assert result.kind is MxKind.MX


async def test_unreachable_nameserver_is_error() -> None:
    """Nothing listening on the port: ICMP port-unreachable surfaces as a resolver error, not a verdict."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    result = await MxResolver([f"127.0.0.1:{dead_port}"], timeout=0.3, tries=1).lookup("firma-test.cz")
    assert result.kind is MxKind.ERROR


async def test_second_lookup_is_cached(dns: Dns) -> None:
    resolver = dns.resolver()
    before = dns.zone.count("kes.firma-test.cz")
    first = await resolver.lookup("kes.firma-test.cz")
    second = await resolver.lookup("KES.firma-test.cz")
    assert second == first
    assert dns.zone.count("kes.firma-test.cz") - before == 1


async def test_cache_expires_after_ttl(dns: Dns) -> None:
    clock = FakeClock()
    resolver = MxResolver([dns.nameserver], timeout=0.3, tries=1, cache_ttl=600.0, clock=clock)
    name = "expirace.firma-test.cz"
    before = dns.zone.count(name, "MX")
    await resolver.lookup(name)
    clock.now += 599.0
    await resolver.lookup(name)
    assert dns.zone.count(name, "MX") - before == 1
    clock.now += 2.0
    again = await resolver.lookup(name)
    assert again.kind is MxKind.MX
    assert dns.zone.count(name, "MX") - before == 2


async def test_timeout_is_cached_only_briefly(dns: Dns) -> None:
    """A timeout says nothing about the domain, so it is retried after 30 s, not after the full TTL."""
    clock = FakeClock()
    resolver = MxResolver([dns.nameserver], timeout=0.3, tries=1, cache_ttl=3600.0, clock=clock)
    name = "pomaly-dns.cz"
    before = dns.zone.count(name, "MX")
    assert (await resolver.lookup(name)).kind is MxKind.TIMEOUT
    clock.now += FAILURE_CACHE_TTL - 1
    assert (await resolver.lookup(name)).kind is MxKind.TIMEOUT
    assert dns.zone.count(name, "MX") - before == 1
    clock.now += 2.0
    assert (await resolver.lookup(name)).kind is MxKind.TIMEOUT
    assert dns.zone.count(name, "MX") - before == 2


async def test_concurrent_lookups_share_one_query(dns: Dns) -> None:
    resolver = dns.resolver()
    name = "soubeh.firma-test.cz"
    before_mx, before_a = dns.zone.count(name, "MX"), dns.zone.count("mx1.firma-test.cz", "A")
    results = await asyncio.gather(*(resolver.lookup(name if i % 2 else name.upper()) for i in range(10)))
    assert {r.kind for r in results} == {MxKind.MX}
    assert all(r is results[0] for r in results)
    assert dns.zone.count(name, "MX") - before_mx == 1
    assert dns.zone.count("mx1.firma-test.cz", "A") - before_a == 1


async def test_cancelled_caller_does_not_cancel_shared_lookup(dns: Dns) -> None:
    """One caller giving up (its own timeout) must not fail the others waiting on the same query."""
    resolver = dns.resolver()
    first = asyncio.ensure_future(resolver.lookup("pomaly-dns.cz"))
    second = asyncio.ensure_future(resolver.lookup("pomaly-dns.cz"))
    await asyncio.sleep(0.05)
    first.cancel()
    assert (await second).kind is MxKind.TIMEOUT
    assert first.cancelled()


async def test_fake_dns_context_manager_serves_and_stops() -> None:
    """`fake_dns` yields a working port and releases it afterwards."""
    with fake_dns("jinak.cz. 0 IN MX 10 mx.jinak.cz.\nmx.jinak.cz. 0 IN A 127.0.0.9\n") as port:
        result = await MxResolver([f"127.0.0.1:{port}"], timeout=0.3, tries=1).lookup("jinak.cz")
    assert result == MxLookup("jinak.cz", MxKind.MX, _hosts((10, "mx.jinak.cz", ("127.0.0.9",))))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))  # the server closed its socket, so the port is free again
