"""A real SMTP server (aiosmtpd, in a thread) that answers RCPT TO the way real MX hosts do.

The prober is tested against the wire, not a mock: aiosmtplib's own exceptions, a 421 that closes the
connection, a server that drops mid-session and the per-MX connection limit are only believable when a
real server sees real connections. aiosmtpd's handler hooks decide the replies; a subclass of its `SMTP`
protocol (installed through `Controller.factory`) adds what hooks cannot: a 421 banner, a delay before
every reply, dropping a connection after N recipients, and counting concurrent connections.

All of 127.0.0.0/8 is on loopback, so several FakeMx peers share one port on 127.0.0.2, .3, … and a
prober configured with a single SMTP port reaches all of them. For many MX IPs at once (a benchmark), one
peer started on "0.0.0.0" answers on every loopback IP and counts connections per destination IP (the
local address of the accepted socket): `peak_by_ip`, `connections_by_ip` — one thread instead of one
Controller per IP.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    """A TCP port nothing listens on right now (asked of the kernel, never hard-coded)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class MxBehaviour:
    """How the peer answers. Addresses are compared lower-case.

    RCPT precedence: greylisting (while its count lasts), then blocked, full, known mailbox, catch-all,
    and otherwise `550 5.1.1 User unknown`.
    """

    mailboxes: set[str] = field(default_factory=set)
    catch_all: bool = False
    full: set[str] = field(default_factory=set)  # 552 5.2.2
    blocked: set[str] = field(default_factory=set)  # 550 5.7.1 (policy: the server refuses us)
    greylist_times: dict[str, int] = field(default_factory=dict)  # 451 4.7.1 this many times, then normal
    banner_421: bool = False  # greet with 421 and hang up
    delay: float = 0.0  # seconds slept before every reply (the last line of a multi-line one)
    reject_ehlo: bool = False  # 502 to EHLO, as old servers do: the client must fall back to HELO
    # Connection number i (0-based, in accept order) answers 421 and hangs up after drop_plan[i] RCPTs;
    # connections past the end of the list behave normally.
    drop_plan: list[int] = field(default_factory=list)


class _MxHandler:
    """aiosmtpd hooks: the replies, decided by the behaviour, and the command log."""

    def __init__(self, mx: FakeMx) -> None:
        self._mx = mx

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self._mx._record("EHLO", hostname)
        if self._mx.behaviour.reject_ehlo:
            return ["502 5.5.2 EHLO not implemented"]
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str) -> str:
        self._mx._record("HELO", hostname)
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        self._mx._record("MAIL", address)  # aiosmtpd hands the null sender over as "<>"
        envelope.mail_from = address
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        addr = address.lower()
        self._mx._record("RCPT", addr)
        if isinstance(server, _MxServer) and server.should_drop():
            return "421 4.3.2 Service shutting down, closing transmission channel"
        behaviour = self._mx.behaviour
        with self._mx._lock:
            left = behaviour.greylist_times.get(addr, 0)
            if left > 0:
                behaviour.greylist_times[addr] = left - 1
        if left > 0:
            return "451 4.7.1 Greylisted, please try again later"
        if addr in behaviour.blocked:
            return "550 5.7.1 Message rejected due to local policy"
        if addr in behaviour.full:
            return "552 5.2.2 Mailbox full"
        if addr in behaviour.mailboxes or behaviour.catch_all:
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        return "550 5.1.1 User unknown"

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._mx._record("RSET", "")
        return "250 2.0.0 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 Accepted"


class _MxServer(SMTP):
    """One connection. Counts itself as open from accept until QUIT or hang-up.

    QUIT, not the socket teardown, ends the count: the client releases its per-MX slot as soon as the 221
    arrives, and the server's own `connection_lost` can run after the next client's `connection_made`,
    which would report a limit breach that never happened on the wire.
    """

    def __init__(self, mx: FakeMx, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._mx = mx
        self._open = False
        self._conn_no = -1
        self._rcpts = 0
        self._local_ip: str | None = None  # the IP the client connected to (this socket's local address)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # a STARTTLS upgrade calls this again on the same connection
        super().connection_made(transport)
        if first:
            sockname = transport.get_extra_info("sockname")
            self._local_ip = str(sockname[0]) if sockname else None
            self._conn_no = self._mx._opened(self._local_ip)
            self._open = True

    def connection_lost(self, error: Exception | None) -> None:
        self._close_count()
        super().connection_lost(error)

    def _close_count(self) -> None:
        if self._open:
            self._open = False
            self._mx._closed(self._local_ip)

    def should_drop(self) -> bool:
        """True when this RCPT is the one the drop plan ends the connection at."""
        plan = self._mx.behaviour.drop_plan
        if self._conn_no >= len(plan):
            return False
        self._rcpts += 1
        return self._rcpts > plan[self._conn_no]

    async def smtp_QUIT(self, arg: str) -> None:
        self._mx._record("QUIT", "")
        self._close_count()
        await super().smtp_QUIT(arg)

    async def push(self, status: AnyStr) -> None:
        text = status.decode() if isinstance(status, bytes) else str(status)
        delay = self._mx.behaviour.delay if self._mx.ready else 0.0  # not for Controller's start-up probe
        if delay > 0 and text[3:4] != "-":  # once per reply, not per line of a multi-line reply
            await asyncio.sleep(delay)
        await super().push(status)
        if text.startswith("421") and self.transport is not None:
            self.transport.close()  # RFC 5321 §3.8: 421 means the server is closing the channel

    async def _handle_client(self) -> None:
        try:
            if self._mx.behaviour.banner_421:
                await self.push("421 4.7.0 Too many connections, try again later")
                return
            await super()._handle_client()
        except asyncio.CancelledError:
            # aiosmtpd cancels this task when the client hangs up; cancelled while sleeping out a delay
            # before the greeting, it would leave the socket open until its 300 s idle timeout.
            if self.transport is not None:
                self.transport.close()
            raise


class _MxController(Controller):
    """aiosmtpd's documented hook for a custom protocol class: override `factory()`."""

    def __init__(self, mx: FakeMx, **kwargs: Any) -> None:
        self._mx = mx
        super().__init__(_MxHandler(mx), **kwargs)

    def factory(self) -> SMTP:
        return _MxServer(self._mx, self.handler, **self.SMTP_kwargs)


class FakeMx:
    """An MX peer on `host:port`. `start(host)`, then `stop()` — tests must stop every peer they start."""

    def __init__(self, behaviour: MxBehaviour, port: int, ident: str = "mx.fake.test") -> None:
        self.behaviour = behaviour
        self.port = port
        self.ident = ident
        self.host: str | None = None
        self._lock = threading.Lock()
        self._log: list[tuple[str, str]] = []
        self._current = 0
        self._peak = 0
        self._total = 0
        # The same three counters per destination IP (what a prober's per-MX limit is about).
        self._current_by_ip: dict[str, int] = {}
        self._peak_by_ip: dict[str, int] = {}
        self._total_by_ip: dict[str, int] = {}
        self._controller: _MxController | None = None
        self.ready = False  # set once start() is done; the start-up probe connection is not delayed

    def start(self, host: str) -> FakeMx:
        """Listen on host:port; returns once the server answers and the counters are clean."""
        if self._controller is not None:
            raise RuntimeError("FakeMx already started")
        controller = _MxController(
            self, hostname=host, port=self.port, server_hostname=self.ident, ready_timeout=5
        )
        controller.start()
        self._controller = controller
        self.host = host
        # Controller.start() connects once to prove the server is up; that probe is not a client's.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._lock:
                if self._total >= 1 and self._current == 0:
                    break
            time.sleep(0.005)
        self.reset()
        self.ready = True
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
            self.ready = False

    def reset(self) -> None:
        """Forget the log and the counters (the behaviour is left as it is)."""
        with self._lock:
            self._log.clear()
            self._peak = self._current
            self._total = 0
            self._peak_by_ip = {ip: n for ip, n in self._current_by_ip.items() if n > 0}
            self._total_by_ip = {}

    @property
    def log(self) -> list[tuple[str, str]]:
        """(verb, argument) of every EHLO/HELO/MAIL/RCPT/RSET/QUIT, in arrival order, over all connections."""
        with self._lock:
            return list(self._log)

    @property
    def current(self) -> int:
        with self._lock:
            return self._current

    @property
    def peak(self) -> int:
        """The most connections open at once since start (or the last reset)."""
        with self._lock:
            return self._peak

    @property
    def connections(self) -> int:
        """Connections accepted since start (or the last reset)."""
        with self._lock:
            return self._total

    @property
    def peak_by_ip(self) -> dict[str, int]:
        """Per destination IP: the most connections open to it at once since start (or the last reset)."""
        with self._lock:
            return dict(self._peak_by_ip)

    @property
    def connections_by_ip(self) -> dict[str, int]:
        """Per destination IP: connections accepted since start (or the last reset)."""
        with self._lock:
            return dict(self._total_by_ip)

    def rcpts(self, domain: str | None = None) -> list[str]:
        """The RCPT TO addresses received, in order; only those at `domain` if given."""
        suffix = None if domain is None else "@" + domain.lower()
        return [arg for verb, arg in self.log if verb == "RCPT" and (suffix is None or arg.endswith(suffix))]

    def _record(self, verb: str, arg: str) -> None:
        with self._lock:
            self._log.append((verb, arg))

    def _opened(self, local_ip: str | None = None) -> int:
        with self._lock:
            number = self._total
            self._total += 1
            self._current += 1
            self._peak = max(self._peak, self._current)
            if local_ip is not None:
                current = self._current_by_ip.get(local_ip, 0) + 1
                self._current_by_ip[local_ip] = current
                self._peak_by_ip[local_ip] = max(self._peak_by_ip.get(local_ip, 0), current)
                self._total_by_ip[local_ip] = self._total_by_ip.get(local_ip, 0) + 1
            return number

    def _closed(self, local_ip: str | None = None) -> None:
        with self._lock:
            self._current -= 1
            if local_ip is not None and local_ip in self._current_by_ip:
                self._current_by_ip[local_ip] -= 1
