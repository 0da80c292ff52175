"""A real DNS server on 127.0.0.1 (dnslib, UDP, in a thread) serving a zone given as text.

Tests talk to it through aiodns exactly as production talks to real nameservers, so NXDOMAIN, NODATA and
timeouts are the resolver's own errors, not mocks. dnslib's stock `ZoneResolver` answers NXDOMAIN for an
existing name that lacks the asked-for type, which would hide the implicit-MX (A/AAAA) fallback; `FakeZone`
answers NOERROR with no records (NODATA) instead, as a real authoritative server does.

Keep record TTLs at 0 in test zones: c-ares (1.34) has its own query cache that honours the TTL, and it
would otherwise answer repeat queries without reaching this server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, cast

from dnslib import QTYPE, RCODE, RR
from dnslib.dns import DNSError
from dnslib.server import DNSLogger, DNSServer

_QUIET = "-request,-reply,-truncated,-error,-recv,-send,-data"


# How the server behaves: from its zone, or as a broken resolver does for every name.
Behaviour = Literal["zone", "nxdomain", "servfail", "silent"]


class FakeZone:
    """dnslib resolver: NXDOMAIN only for a name absent from the zone, NOERROR/NODATA otherwise.

    Names in `timeout_names` get no reply at all, so the client times out. Every query received is
    appended to `queries` as `(name, type)` (lower-case name, no trailing dot), so tests can prove a
    cache or a shared in-flight lookup kept queries off the wire.

    `behaviour` turns it into a broken resolver while it runs: "nxdomain" answers NXDOMAIN for every name,
    "servfail" SERVFAIL, "silent" never answers; "zone" (the default) serves the zone again. `load`
    replaces the zone. Both take effect with the next query.
    """

    def __init__(self, zone_text: str, timeout_names: Iterable[str] = ()) -> None:
        self.rrs: list[Any] = RR.fromZone(zone_text)
        self.timeout_names = {n.rstrip(".").lower() for n in timeout_names}
        self.queries: list[tuple[str, str]] = []
        self.behaviour: Behaviour = "zone"
        self._countdown: tuple[int, Behaviour] | None = None
        self._lock = threading.Lock()

    def load(self, zone_text: str) -> None:
        self.rrs = RR.fromZone(zone_text)

    def break_after(self, queries: int, behaviour: Behaviour) -> None:
        """Answer `queries` more queries as now, then behave as `behaviour` (a resolver that breaks
        while a client is using it)."""
        with self._lock:
            self._countdown = (queries, behaviour)

    def resolve(self, request: Any, handler: Any) -> Any:
        """Called by dnslib on its server thread for each request. To send nothing it raises DNSError,
        which dnslib's handler catches and logs (quietly here), where a None reply would raise in its
        thread and print a traceback for every query."""
        qname, qtype = request.q.qname, request.q.qtype
        name = str(qname).rstrip(".").lower()
        with self._lock:
            self.queries.append((name, str(QTYPE.get(qtype))))
            if self._countdown is not None:
                left, then = self._countdown
                self._countdown = (left - 1, then) if left > 0 else None
                if left == 0:
                    self.behaviour = then
            behaviour = self.behaviour
        if name in self.timeout_names or behaviour == "silent":
            raise DNSError(f"no answer for {name}, on purpose")
        reply = request.reply()
        if behaviour != "zone":
            reply.header.rcode = RCODE.NXDOMAIN if behaviour == "nxdomain" else RCODE.SERVFAIL
            return reply
        exists = False
        for rr in self.rrs:
            if rr.rname == qname:
                exists = True
                if rr.rtype == qtype or qtype == QTYPE.ANY:
                    reply.add_answer(rr)
        if not exists:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def count(self, name: str, qtype: str | None = None) -> int:
        """How many queries for `name` (of `qtype`, if given) reached the server."""
        wanted = name.rstrip(".").lower()
        with self._lock:
            return sum(1 for n, t in self.queries if n == wanted and (qtype is None or t == qtype))


def start(zone_text: str, timeout_names: Iterable[str] = ()) -> tuple[DNSServer, int]:
    """Start a server for `zone_text` on a free UDP port of 127.0.0.1; returns it and the port.

    The kernel picks the port (bind to 0), so there is no window in which another process can take it.
    Stop it with `stop()`.
    """
    server = DNSServer(
        FakeZone(zone_text, timeout_names),
        port=0,
        address="127.0.0.1",
        logger=DNSLogger(log=_QUIET, prefix=False),
    )
    server.start_thread()
    port = cast(int, server.server.server_address[1])
    return server, port


def zone_of(server: DNSServer) -> FakeZone:
    """The FakeZone a server started by `start` answers from (for its `queries`)."""
    return cast(FakeZone, server.server.resolver)


def stop(server: DNSServer) -> None:
    """Stop serving and close the socket (dnslib's own `stop()` leaves the socket open)."""
    server.stop()
    server.server.server_close()


@contextmanager
def fake_dns(zone_text: str, timeout_names: Iterable[str] = ()) -> Iterator[int]:
    """`with fake_dns(ZONE) as port:` a server for the block; use nameserver `f"127.0.0.1:{port}"`."""
    server, port = start(zone_text, timeout_names)
    try:
        yield port
    finally:
        stop(server)


@contextmanager
def switchable(zone: FakeZone) -> Iterator[Callable[[Behaviour], None]]:
    """A switch for the resolver's behaviour while a test runs; it serves its zone again afterwards."""

    def switch(behaviour: Behaviour) -> None:
        zone.behaviour = behaviour

    try:
        yield switch
    finally:
        zone.behaviour = "zone"
