"""Where a domain's mail goes: MX lookup with the RFC 5321 implicit-MX fallback and RFC 7505 null MX.

The prober connects to IP addresses, never to host names: handing aiosmtplib a host name would make it use
the system resolver, bypassing the nameservers configured here (and the test DNS server). So every MX host
is resolved to its addresses with the same resolver that answered the MX query.

Only answers the DNS actually gave turn into a certain kind (`NXDOMAIN`, `NULL`, `NO_MAIL`); a timeout or
any other resolver failure is reported as such, so the verdict can stay `unknown` instead of guessing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import aiodns
import pycares
from aiodns.error import ARES_ENODATA, ARES_ENOTFOUND, ARES_ETIMEOUT, DNSError

from services.validator.health import LookupOutcome
from services.validator.verdicts import MxHost, is_null_mx, order_mx

# A timeout or a resolver error says nothing about the domain: retry it soon rather than keep it an hour.
FAILURE_CACHE_TTL = 30.0


class MxKind(StrEnum):
    """What the DNS said about where the domain's mail goes."""

    MX = "mx"  # one or more MX records
    IMPLICIT = "implicit"  # no MX, but A/AAAA: the domain itself is the mail host (RFC 5321 §5.1)
    NULL = "null"  # RFC 7505 null MX: the domain accepts no mail
    NXDOMAIN = "nxdomain"  # the domain does not exist
    NO_MAIL = "no_mail"  # the domain exists, but has no MX and no A/AAAA
    TIMEOUT = "timeout"  # the nameservers did not answer in time
    ERROR = "error"  # any other resolver failure (SERVFAIL, refused, malformed name, ...)

    @property
    def outcome(self) -> LookupOutcome:
        """What this answer says about the resolver (for the DNS health guard)."""
        return _OUTCOMES.get(self, LookupOutcome.ANSWERED)


_OUTCOMES = {
    MxKind.NXDOMAIN: LookupOutcome.NXDOMAIN,
    MxKind.NO_MAIL: LookupOutcome.NO_MX,
    MxKind.TIMEOUT: LookupOutcome.TIMEOUT,
    MxKind.ERROR: LookupOutcome.ERROR,
}
# Answers a broken resolver gives for every name: forgotten when the resolver is found broken or fixed.
_FAILURES = frozenset(_OUTCOMES)


@dataclass(frozen=True)
class MailHost:
    """One host to try, with the addresses the same resolver gave for it (empty: the prober skips it)."""

    priority: int
    host: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class MxLookup:
    """The outcome for one domain; `hosts` is in the order to try them, and empty unless MX or IMPLICIT."""

    domain: str
    kind: MxKind
    hosts: tuple[MailHost, ...] = ()


class _Failure(Exception):
    """A lookup step ended in a kind that stops the lookup (timeout, error)."""

    def __init__(self, kind: MxKind) -> None:
        super().__init__(kind.value)
        self.kind = kind


class MxResolver:
    """Async MX resolver on aiodns with a per-domain cache and shared in-flight lookups.

    A batch often holds many addresses at one domain; caching and sharing the in-flight query means the
    domain's nameservers see one lookup, not one per address. The aiodns resolver is created on first use,
    because it binds to the running event loop.
    """

    def __init__(
        self,
        nameservers: list[str] | None,
        *,
        timeout: float = 3.0,
        tries: int = 2,
        cache_ttl: float = 3600.0,
        max_in_flight: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`nameservers` are `ip` or `ip:port` strings; None uses the system configuration.

        `max_in_flight` bounds the domains resolved at once: a batch of a thousand domains sent in one
        burst makes a resolver slow down, and c-ares, which adapts its timeout to the delays it has seen,
        then times out lookups that would have succeeded (measured by bench/validate.py)."""
        self._nameservers = list(nameservers) if nameservers else None
        self._timeout = timeout
        self._tries = tries
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, MxLookup]] = {}
        self._inflight: dict[str, asyncio.Task[MxLookup]] = {}
        # Bumped by `reset`: a lookup that started before it must not put its answer in the cache.
        self._generation = 0
        self._max_in_flight = max_in_flight
        self._slots: asyncio.Semaphore | None = None
        self._resolver: aiodns.DNSResolver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def nameservers(self) -> list[str] | None:
        return self._nameservers

    async def lookup(self, domain: str, *, fresh: bool = False) -> MxLookup:
        """Where mail for `domain` (ASCII/punycode) goes; answered from the cache when still fresh,
        unless `fresh` (a re-run asks the DNS again: the answer may have changed since)."""
        key = domain.strip().rstrip(".").lower()
        cached = self._cache.get(key)
        if cached is not None:
            expires_at, result = cached
            if self._clock() < expires_at and not fresh:
                return result
            del self._cache[key]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._resolve_and_cache(key))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: one caller being cancelled must not cancel the query the others are waiting for.
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Release the resolver's sockets; the next lookup creates a new one."""
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None
            self._loop = None
            self._slots = None

    async def reset(self) -> None:
        """Forget every failure the cache holds and start a new channel (c-ares keeps negative answers
        of its own): called when the resolver is found broken or fixed, so that no answer it gave while
        broken outlives that. Lookups in flight end as errors and are not cached."""
        self._generation += 1
        self._cache = {k: v for k, v in self._cache.items() if v[1].kind not in _FAILURES}
        await self.close()

    def _forget(self, key: str, task: asyncio.Task[MxLookup]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]

    async def _resolve_and_cache(self, key: str) -> MxLookup:
        generation = self._generation
        if self._slots is None:  # created on the running loop, like the resolver
            self._slots = asyncio.Semaphore(self._max_in_flight)
        async with self._slots:
            result = await self._resolve(key)
        ttl = self._cache_ttl
        if result.kind in (MxKind.TIMEOUT, MxKind.ERROR):
            ttl = min(ttl, FAILURE_CACHE_TTL)
        if generation == self._generation:
            self._cache[key] = (self._clock() + ttl, result)
        return result

    async def _resolve(self, domain: str) -> MxLookup:
        try:
            answer = await self._dns().query_dns(domain, "MX")
        except DNSError as exc:
            code = _code(exc)
            if code == ARES_ENOTFOUND:
                return MxLookup(domain, MxKind.NXDOMAIN)
            if code == ARES_ETIMEOUT:
                return MxLookup(domain, MxKind.TIMEOUT)
            if code != ARES_ENODATA:
                return MxLookup(domain, MxKind.ERROR)
            return await self._implicit(domain)
        records = [
            MxHost(rr.data.priority, rr.data.exchange.rstrip("."))
            for rr in answer.answer
            if isinstance(rr.data, pycares.MXRecordData)
        ]
        if not records:  # NOERROR with only a CNAME or nothing at all: same as NODATA
            return await self._implicit(domain)
        if is_null_mx(records):
            return MxLookup(domain, MxKind.NULL)
        # A root exchange mixed with real ones is a misconfiguration; it can never take mail, so drop it.
        ordered = order_mx([r for r in records if r.host])
        addresses = await asyncio.gather(*(self._host_addresses(r.host) for r in ordered))
        hosts = tuple(MailHost(r.priority, r.host, a) for r, a in zip(ordered, addresses, strict=True))
        return MxLookup(domain, MxKind.MX, hosts)

    async def _implicit(self, domain: str) -> MxLookup:
        """No MX: the domain's own A, else AAAA, records make it its own mail host (RFC 5321 §5.1).

        A timeout or error here stays a timeout or error: calling it NO_MAIL would mark the address
        invalid on a guess.
        """
        try:
            addresses = await self._addresses(domain)
        except _Failure as failure:
            return MxLookup(domain, failure.kind)
        if not addresses:
            return MxLookup(domain, MxKind.NO_MAIL)
        return MxLookup(domain, MxKind.IMPLICIT, (MailHost(0, domain, addresses),))

    async def _host_addresses(self, host: str) -> tuple[str, ...]:
        """An MX host's addresses; any failure leaves it empty and the prober skips that host."""
        try:
            return await self._addresses(host)
        except _Failure:
            return ()

    async def _addresses(self, name: str) -> tuple[str, ...]:
        """A records, or AAAA records when there is no A; `_Failure` on a timeout or error."""
        found = await self._query_addresses(name, "A")
        if not found:
            found = await self._query_addresses(name, "AAAA")
        return found

    async def _query_addresses(self, name: str, qtype: str) -> tuple[str, ...]:
        try:
            answer = await self._dns().query_dns(name, qtype)
        except DNSError as exc:
            code = _code(exc)
            if code in (ARES_ENODATA, ARES_ENOTFOUND):
                return ()
            raise _Failure(MxKind.TIMEOUT if code == ARES_ETIMEOUT else MxKind.ERROR) from exc
        # c-ares follows CNAMEs and includes them in the answer; keep only the address records.
        return tuple(
            rr.data.addr
            for rr in answer.answer
            if isinstance(rr.data, pycares.ARecordData | pycares.AAAARecordData)
        )

    def _dns(self) -> aiodns.DNSResolver:
        loop = asyncio.get_running_loop()
        if self._resolver is None or self._loop is not loop:
            self._resolver = aiodns.DNSResolver(
                nameservers=self._nameservers, loop=loop, timeout=self._timeout, tries=self._tries
            )
            self._loop = loop
        return self._resolver


async def check_canaries(
    nameservers: list[str] | None, domains: Sequence[str], *, query_timeout: float, tries: int = 2
) -> dict[str, LookupOutcome]:
    """Ask for each canary's MX records on a channel of its own, created for this check: nothing cached
    (neither ours nor c-ares') may answer for a resolver that has changed since."""
    resolver = aiodns.DNSResolver(nameservers=nameservers, timeout=query_timeout, tries=tries)

    async def one(domain: str) -> LookupOutcome:
        try:
            answer = await resolver.query_dns(domain, "MX")
        except DNSError as exc:
            code = _code(exc)
            if code == ARES_ENOTFOUND:
                return LookupOutcome.NXDOMAIN
            if code == ARES_ENODATA:
                return LookupOutcome.NO_MX
            return LookupOutcome.TIMEOUT if code == ARES_ETIMEOUT else LookupOutcome.ERROR
        records = [
            MxHost(rr.data.priority, rr.data.exchange.rstrip("."))
            for rr in answer.answer
            if isinstance(rr.data, pycares.MXRecordData)
        ]
        if not records or is_null_mx(records):
            return LookupOutcome.NO_MX
        return LookupOutcome.ANSWERED

    try:
        outcomes = await asyncio.gather(*(one(domain) for domain in domains))
    finally:
        await resolver.close()
    return dict(zip(domains, outcomes, strict=True))


def _code(exc: DNSError) -> int | None:
    """The c-ares status code a DNSError carries as its first argument."""
    code = exc.args[0] if exc.args else None
    return code if isinstance(code, int) else None
