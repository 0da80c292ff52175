"""The SMTP RCPT prober: asks a domain's MX, without sending mail, whether it would take each address.

One call covers one domain: connect to its MX hosts in priority order until one greets with 220, say
EHLO (HELO if EHLO is refused), `MAIL FROM:<sender>`, then one RCPT for a random local part (a domain that
accepts it accepts anything, so its 250s prove nothing) followed by one RCPT per address, all in one
session. What each reply means is `domain.classify_rcpt`'s business; this module only gathers them.

It is careful with the servers it talks to, because being careless gets the prober's IP listed: at most
`per_mx_limit` sessions to one MX IP at a time (never exceeded, whatever the caller's concurrency), a
global cap on open sessions, an RSET every 50 recipients to stay under per-transaction limits, QUIT at the
end, and no greylisting retries here — the caller re-probes TEMPORARY addresses later.

aiosmtplib is driven through `execute_command` so that every reply code comes back as data (its `rcpt()`
raises on anything but 250/251), and it is always handed an IP address: given a host name it would
resolve it with the system resolver, not ours.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum

import aiosmtplib
from aiosmtplib import (
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPConnectTimeoutError,
    SMTPException,
    SMTPResponse,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from services.validator.verdicts import RcptKind, classify_rcpt

RSET_EVERY = 50  # RCPTs per transaction; RFC 5321 §4.5.3.1.8 only promises 100, many servers allow fewer
MAX_SESSIONS = 3  # sessions (connections that got a 220) per probe() call, reconnects included


@dataclass(frozen=True)
class RcptReply:
    code: int
    message: str
    kind: RcptKind  # classify_rcpt(code, message)

    @classmethod
    def of(cls, code: int, message: str) -> RcptReply:
        return cls(code, message, classify_rcpt(code, message))


class SessionError(StrEnum):
    """Why no MX host could be used for a domain."""

    REFUSED = "refused"  # connection refused or unreachable
    TIMEOUT = "timeout"  # no TCP connection, greeting or reply within the timeout
    UNAVAILABLE = "unavailable"  # 421 or another non-220 greeting, or 421/4xx/5xx to EHLO+HELO or MAIL


# When several hosts fail differently, report the one that says most: a server that answered and turned
# us away beats one that never answered, and a timeout beats a refusal (it may be a filter dropping us).
_ERROR_RANK = {SessionError.REFUSED: 0, SessionError.TIMEOUT: 1, SessionError.UNAVAILABLE: 2}


@dataclass(frozen=True)
class DomainProbe:
    host: str | None  # the MX host name that was used (the last one, if a reconnect moved on); None if none
    catch_all: bool | None  # None when the random probe got no definite 250 or 5xx
    replies: dict[str, RcptReply]  # address -> its RCPT reply; missing if the sessions ended before it
    error: SessionError | None  # set when no MX host could be used


def _random_local_part() -> str:
    return "lf-probe-" + secrets.token_hex(6)


@dataclass
class _Work:
    """What one probe() call still has to ask, shared by its (re)connections."""

    pending: deque[str]
    replies: dict[str, RcptReply] = field(default_factory=dict)
    random_pending: bool = True
    catch_all: bool | None = None


@dataclass
class _Outcome:
    """How one connection attempt ended."""

    error: SessionError | None = None  # the host could not be used at all: try the next one
    done: bool = False  # all work finished (otherwise the session broke off mid-way)
    progressed: bool = False  # at least one RCPT (the random one included) got a reply here


class _Slot:
    """A per-MX-IP semaphore plus how many callers hold or await it, so idle IPs can be forgotten."""

    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0


class SmtpProber:
    def __init__(
        self,
        *,
        port: int = 25,
        helo: str,
        sender: str = "",
        timeout: float = 10.0,
        per_mx_limit: int = 2,
        global_limit: int = 100,
        random_local_part: Callable[[], str] = _random_local_part,
        on_connect: Callable[[str, bool], None] | None = None,
    ) -> None:
        if not helo or any(c.isspace() for c in helo):
            raise ValueError(f"HELO name must be one word, not {helo!r}")
        _check_address(sender, allow_empty=True)
        if per_mx_limit < 1 or global_limit < 1:
            raise ValueError("connection limits must be at least 1")
        self._port = port
        self._helo = helo
        self._sender = sender
        self._timeout = timeout
        self._per_mx_limit = per_mx_limit
        self._global = asyncio.Semaphore(global_limit)
        self._slots: dict[str, _Slot] = {}
        self._random_local_part = random_local_part
        self._on_connect = on_connect

    async def probe(
        self, domain: str, hosts: Sequence[tuple[str, tuple[str, ...]]], addresses: Sequence[str]
    ) -> DomainProbe:
        """RCPT every address at `domain` via its MX `hosts` ((name, IPs) in priority order).

        Falls back to the next IP / host when one refuses, times out, or turns us away before RCPT. A
        session that breaks off mid-way (421, hang-up, timeout) is resumed on a new connection for the
        addresses still unanswered, at most MAX_SESSIONS sessions in all.
        """
        for address in addresses:
            _check_address(address)
        candidates = [(name, ip) for name, ips in hosts for ip in ips]
        for _, ip in candidates:
            ipaddress.ip_address(ip)  # ValueError for a host name: we never let aiosmtplib resolve
        work = _Work(pending=deque(dict.fromkeys(addresses)))
        used_host: str | None = None
        error: SessionError | None = None
        sessions = 0
        index = 0
        while index < len(candidates) and sessions < MAX_SESSIONS:
            name, ip = candidates[index]
            outcome = await self._session(domain, ip, work)
            if outcome.error is not None:
                if error is None or _ERROR_RANK[outcome.error] > _ERROR_RANK[error]:
                    error = outcome.error
                index += 1
                continue
            sessions += 1
            used_host = name
            if outcome.done:
                break
            if not outcome.progressed:
                index += 1  # broke off before answering anything: reconnecting here would go the same way
        return DomainProbe(
            host=used_host,
            catch_all=work.catch_all,
            replies=work.replies,
            error=None if used_host is not None else (error or SessionError.REFUSED),
        )

    @asynccontextmanager
    async def _slot(self, ip: str) -> AsyncIterator[None]:
        """Hold this MX IP's slot, then a global one, for a whole session.

        Per-MX first, so a task queueing behind a busy MX does not sit on a global slot meanwhile.
        """
        slot = self._slots.get(ip)
        if slot is None:
            slot = self._slots[ip] = _Slot(self._per_mx_limit)
        slot.users += 1
        try:
            async with slot.semaphore, self._global:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[ip]

    async def _session(self, domain: str, ip: str, work: _Work) -> _Outcome:
        async with self._slot(ip):
            client = aiosmtplib.SMTP(
                hostname=ip,
                port=self._port,
                timeout=self._timeout,
                start_tls=False,  # else connect() sends EHLO itself and STARTTLS; we only need RCPT
                use_tls=False,
                local_hostname=self._helo,
            )
            try:
                return await self._converse(client, domain, work)
            finally:
                client.close()  # before the slot is released: the limit counts open sockets

    async def _converse(self, client: aiosmtplib.SMTP, domain: str, work: _Work) -> _Outcome:
        try:
            await client.connect()
        except SMTPConnectResponseError:  # a non-220 greeting (a subclass of SMTPConnectError)
            self._connected(domain, False)
            return _Outcome(error=SessionError.UNAVAILABLE)
        except SMTPConnectTimeoutError:
            self._connected(domain, False)
            return _Outcome(error=SessionError.TIMEOUT)
        except SMTPConnectError as exc:
            self._connected(domain, False)
            # TCP accepted but closed before any greeting: a server, turning us away.
            hung_up = isinstance(exc.__cause__, SMTPServerDisconnected)
            return _Outcome(error=SessionError.UNAVAILABLE if hung_up else SessionError.REFUSED)
        self._connected(domain, True)

        try:
            if not await self._greet(client) or not await self._mail_from(client):
                return _Outcome(error=SessionError.UNAVAILABLE)
        except SMTPTimeoutError:
            return _Outcome(error=SessionError.TIMEOUT)
        except (SMTPException, OSError):
            return _Outcome(error=SessionError.UNAVAILABLE)

        outcome = _Outcome()
        try:
            in_transaction = 0
            if work.random_pending:
                reply = await self._rcpt(client, f"{self._random_local_part()}@{domain}")
                if reply.kind is RcptKind.UNAVAILABLE:
                    return outcome  # 421: the server hung up; ask again on the next connection
                work.random_pending = False
                outcome.progressed = True
                work.catch_all = (
                    True if reply.kind is RcptKind.ACCEPTED else (False if reply.code >= 500 else None)
                )
                in_transaction += 1
            while work.pending:
                if in_transaction >= RSET_EVERY:
                    if not await self._rset(client) or not await self._mail_from(client):
                        return outcome
                    in_transaction = 0
                address = work.pending[0]
                reply = await self._rcpt(client, address)
                if reply.kind is RcptKind.UNAVAILABLE:
                    return outcome  # about the server, not the address: it stays pending
                work.replies[address] = reply
                work.pending.popleft()
                outcome.progressed = True
                in_transaction += 1
        except (SMTPException, OSError):
            return outcome  # hang-up or timeout mid-session: the RCPT in flight stays pending
        outcome.done = True
        with suppress(SMTPException, OSError):
            await client.quit()
        return outcome

    def _connected(self, domain: str, connected: bool) -> None:
        if self._on_connect is not None:
            self._on_connect(domain, connected)

    async def _greet(self, client: aiosmtplib.SMTP) -> bool:
        """EHLO, or HELO when EHLO gets a 5xx (servers that predate ESMTP)."""
        helo = self._helo.encode("ascii")
        response = await client.execute_command(b"EHLO", helo)
        if response.code == 250:
            return True
        if not 500 <= response.code < 600:
            return False
        response = await client.execute_command(b"HELO", helo)
        return response.code == 250

    async def _mail_from(self, client: aiosmtplib.SMTP) -> bool:
        response = await client.execute_command(b"MAIL", b"FROM:<" + self._sender.encode() + b">")
        return response.code == 250

    async def _rset(self, client: aiosmtplib.SMTP) -> bool:
        response = await client.execute_command(b"RSET")
        return response.code == 250

    async def _rcpt(self, client: aiosmtplib.SMTP, address: str) -> RcptReply:
        response: SMTPResponse = await client.execute_command(b"RCPT", b"TO:<" + address.encode() + b">")
        return RcptReply.of(response.code, response.message)


def _check_address(address: str, *, allow_empty: bool = False) -> None:
    """Refuse what would break the command line: the caller validates syntax, this guards the wire."""
    if not address and allow_empty:
        return
    if not address or any(c in address for c in "<>\r\n") or any(c.isspace() for c in address):
        raise ValueError(f"not an address to put in an SMTP command: {address!r}")
