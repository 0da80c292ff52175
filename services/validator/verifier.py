"""The verification pipeline for a list of addresses, cheapest check first, stopping when certain.

syntax (email-validator) → role and disposable flags → MX (cached per domain) → one SMTP session per
domain: a random local part first (catch-all), then every address's RCPT → greylisted addresses probed
again on the retry schedule. The same pipeline serves `leadflow validate` and the validator service.

A DNS failure (no such domain, no mail server, a timeout) becomes a result only when the DNS guard
believes it: while our own resolver looks broken it is `dns_unhealthy` instead, which the service holds.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace

from email_validator import EmailNotValidError, validate_email

from contracts import Verdict
from services.runtime.settings import Settings
from services.validator.dns import MxKind, MxLookup, MxResolver, check_canaries
from services.validator.dns_guard import DnsGuard
from services.validator.domain import parse_retry_schedule
from services.validator.health import (
    DnsFault,
    DnsHealth,
    LookupOutcome,
    ProbeHealth,
    parse_domains,
    parse_nameservers,
)
from services.validator.smtp import DomainProbe, SessionError, SmtpProber
from services.validator.verdicts import (
    DNS_DEPENDENT,
    RcptKind,
    Reason,
    Result,
    is_disposable,
    is_role,
    verdict_of,
)

_DNS_REASONS = {
    MxKind.NXDOMAIN: Reason.NO_SUCH_DOMAIN,
    MxKind.NULL: Reason.NULL_MX,
    MxKind.NO_MAIL: Reason.NO_MAIL_SERVER,
    MxKind.TIMEOUT: Reason.DNS_TIMEOUT,
    MxKind.ERROR: Reason.DNS_ERROR,
}


@dataclass(frozen=True)
class _Address:
    index: int
    raw: str
    email: str  # normalised, ASCII domain
    domain: str
    role: bool
    disposable: bool


class DnsUntrusted(Exception):
    """The resolver failed the canary check: no DNS answer it gives can be believed."""


# What `leadflow validate` says when DNS cannot be trusted.
DNS_ADVICE = (
    "with a resolver that fails for well-known mail domains, good addresses would come out invalid. "
    "Check the resolver (LEADFLOW_DNS_NAMESERVERS, else the system's); LEADFLOW_VALIDATOR_DNS_CANARIES "
    "names the domains checked."
)


class Verifier:
    def __init__(
        self,
        resolver: MxResolver,
        prober: SmtpProber,
        *,
        greylist_retries: Sequence[float] = (),
        allow_test_domains: bool = False,
        catch_all_ttl: float = 3600.0,
        health: ProbeHealth | None = None,
        dns_guard: DnsGuard | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Without `dns_guard`, every DNS failure is believed (a bench, or a test of one branch)."""
        self.resolver = resolver
        self.prober = prober
        self.dns_guard = dns_guard
        if dns_guard is not None:
            dns_guard.on_change(self._dns_changed)
        self.greylist_retries = tuple(greylist_retries)
        self.allow_test_domains = allow_test_domains
        self.catch_all_ttl = catch_all_ttl
        self.health = health or ProbeHealth()
        self._sleep = sleep
        self._clock = clock
        self._catch_all: dict[str, float] = {}  # domain → when it was found catch-all

    @classmethod
    def from_settings(cls, settings: Settings, *, single_pass: bool = False) -> Verifier:
        """The configured pipeline; `single_pass` leaves greylisted addresses to the caller to retry
        (the validator service re-queues them instead of sleeping in a handler)."""
        health = ProbeHealth()
        clock = time.monotonic
        prober = SmtpProber(
            port=settings.smtp_probe_port,
            helo=settings.smtp_probe_helo or socket.getfqdn(),
            sender=settings.smtp_probe_sender,
            timeout=settings.smtp_probe_timeout_seconds,
            per_mx_limit=settings.validator_per_mx_limit,
            global_limit=settings.validator_concurrency,
            on_connect=lambda domain, connected: health.record(domain, connected=connected, now=clock()),
        )
        nameservers = parse_nameservers(settings.dns_nameservers) or None
        resolver = MxResolver(
            nameservers,
            timeout=settings.dns_timeout_seconds,
            cache_ttl=settings.validator_cache_ttl_seconds,
        )

        async def canaries(domains: Sequence[str]) -> dict[str, LookupOutcome]:
            return await check_canaries(nameservers, domains, query_timeout=settings.dns_timeout_seconds)

        dns_health = DnsHealth(
            canaries=parse_domains(settings.validator_dns_canaries),
            interval_seconds=settings.validator_dns_canary_interval_seconds,
        )
        return cls(
            resolver,
            prober,
            greylist_retries=()
            if single_pass
            else parse_retry_schedule(settings.validator_greylist_retry_seconds),
            allow_test_domains=settings.validator_allow_test_domains,
            catch_all_ttl=settings.validator_cache_ttl_seconds,
            health=health,
            dns_guard=DnsGuard(dns_health, canaries, clock=clock),
            clock=clock,
        )

    async def _dns_changed(self, fault: DnsFault | None) -> None:
        # Whatever the resolver answered before this change is suspect (it broke) or stale (it was fixed).
        await self.resolver.reset()

    @property
    def degraded(self) -> bool:
        """The SMTP prober looks blocked (see ProbeHealth)."""
        return self.health.degraded(self._clock())

    @property
    def dns_fault(self) -> DnsFault | None:
        """Why our own DNS cannot be trusted right now, if it cannot (see DnsHealth)."""
        return self.dns_guard.fault if self.dns_guard is not None else None

    async def verify_checked(
        self, emails: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> list[Result]:
        """`verify_many` for `leadflow validate`, which has no queue to hold leads in: the canaries are
        checked first, and `DnsUntrusted` raised when they fail, before any address is verified."""
        guard = self.dns_guard
        if guard is not None and guard.health.canaries:
            fault = await guard.check()
            if fault is not None:
                answers = ", ".join(f"{d}: {o.value}" for d, o in guard.last_outcomes.items())
                raise DnsUntrusted(f"{fault.message} ({answers})")
        return await self.verify_many(emails, progress)

    async def verify_many(
        self,
        emails: Sequence[str],
        progress: Callable[[int], None] | None = None,
        *,
        fresh: Collection[int] = (),
    ) -> list[Result]:
        """A result per address, in input order; domains are verified concurrently. `progress(n)` is
        called as each `n` addresses get their result (a domain at a time). The domains of the
        addresses at the indexes in `fresh` are looked up again rather than answered from the cache."""
        report = progress or (lambda n: None)
        results: list[Result | None] = [None] * len(emails)
        by_domain: dict[str, list[_Address]] = {}
        refresh: set[str] = set()
        for index, raw in enumerate(emails):
            checked = self._check_syntax(index, raw)
            if isinstance(checked, Result):
                results[index] = checked
            else:
                by_domain.setdefault(checked.domain, []).append(checked)
                if index in fresh:
                    refresh.add(checked.domain)
        report(len(emails) - sum(len(a) for a in by_domain.values()))

        async def domain_done(domain: str, addrs: list[_Address]) -> list[tuple[int, Result]]:
            verified = await self._verify_domain(domain, addrs, fresh=domain in refresh)
            report(len(verified))
            return verified

        done = await asyncio.gather(*(domain_done(domain, addrs) for domain, addrs in by_domain.items()))
        for domain_results in done:
            for index, result in domain_results:
                results[index] = result
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    async def verify(self, email: str) -> Result:
        return (await self.verify_many([email]))[0]

    def _check_syntax(self, index: int, raw: str) -> _Address | Result:
        try:
            checked = validate_email(
                raw.strip(), check_deliverability=False, test_environment=self.allow_test_domains
            )
        except EmailNotValidError:
            return Result(raw, Verdict.INVALID, Reason.INVALID_SYNTAX)
        email = checked.ascii_email or checked.normalized
        local, _, domain = email.rpartition("@")
        domain = domain.lower()
        return _Address(
            index, raw, f"{local}@{domain}", domain, role=is_role(local), disposable=is_disposable(domain)
        )

    async def _verify_domain(
        self, domain: str, addresses: list[_Address], *, fresh: bool = False
    ) -> list[tuple[int, Result]]:
        guard = self.dns_guard
        if guard is not None and guard.skip_lookups():
            return [(a.index, self._result(a, Reason.DNS_UNHEALTHY)) for a in addresses]
        looked_up_at = guard.now() if guard is not None else 0.0
        lookup = await self.resolver.lookup(domain, fresh=fresh)
        if guard is not None:
            await guard.record_lookup(domain, lookup.kind.outcome)
        dns_reason = _DNS_REASONS.get(lookup.kind)
        if dns_reason is not None:
            if dns_reason in DNS_DEPENDENT and guard is not None and not await guard.believe(looked_up_at):
                dns_reason = Reason.DNS_UNHEALTHY
            return [(a.index, self._result(a, dns_reason)) for a in addresses]
        mx = lookup.hosts[0].host if lookup.hosts else None
        found_at = self._catch_all.get(domain)
        if found_at is not None and self._clock() - found_at < self.catch_all_ttl:
            return [(a.index, self._result(a, Reason.CATCH_ALL, mx=mx, catch_all=True)) for a in addresses]

        final: dict[int, Result] = {}
        pending = addresses
        attempts = (0.0, *self.greylist_retries)
        for attempt, wait in enumerate(attempts):
            if attempt:
                await self._sleep(wait)
            probe = await self.prober.probe(domain, _hosts(lookup), [a.email for a in pending])
            pending = self._settle(domain, probe, pending, final, last=attempt == len(attempts) - 1)
            if not pending:
                break
        return sorted(final.items())

    def _settle(
        self,
        domain: str,
        probe: DomainProbe,
        pending: list[_Address],
        final: dict[int, Result],
        *,
        last: bool,
    ) -> list[_Address]:
        """Record the certain results of one probe in `final`; returns the addresses to probe again."""
        mx = probe.host
        if probe.error is not None:
            if probe.error in (SessionError.REFUSED, SessionError.TIMEOUT) and self.degraded:
                reason = Reason.PROBER_BLOCKED
            else:
                reason = {
                    SessionError.REFUSED: Reason.MX_UNREACHABLE,
                    SessionError.TIMEOUT: Reason.SMTP_TIMEOUT,
                    SessionError.UNAVAILABLE: Reason.TEMPORARY_FAILURE,
                }[probe.error]
            for a in pending:
                final[a.index] = self._result(a, reason, mx=mx)
            return []
        if probe.catch_all:
            self._catch_all[domain] = self._clock()
            for a in pending:
                reply = probe.replies.get(a.email)
                final[a.index] = self._result(
                    a, Reason.CATCH_ALL, mx=mx, code=reply.code if reply else None, catch_all=True
                )
            return []
        retry: list[_Address] = []
        for a in pending:
            reply = probe.replies.get(a.email)
            if reply is None:
                final[a.index] = self._result(a, Reason.TEMPORARY_FAILURE, mx=mx)
            elif reply.kind == RcptKind.TEMPORARY or (
                reply.kind == RcptKind.ACCEPTED and probe.catch_all is None
            ):
                # Greylisted — or accepted while the catch-all test went unanswered: not yet certain.
                retry.append(a)
                if last:
                    final[a.index] = self._result(a, Reason.GREYLISTED, mx=mx, code=reply.code)
            else:
                reason = {
                    RcptKind.ACCEPTED: Reason.ACCEPTED,
                    RcptKind.NO_MAILBOX: Reason.MAILBOX_NOT_FOUND,
                    RcptKind.MAILBOX_FULL: Reason.MAILBOX_FULL,
                    RcptKind.POLICY: Reason.POLICY_BLOCK,
                    RcptKind.UNAVAILABLE: Reason.TEMPORARY_FAILURE,
                    RcptKind.REJECTED: Reason.SMTP_REJECTED,
                }[reply.kind]
                final[a.index] = self._result(a, reason, mx=mx, code=reply.code)
        return [] if last else retry

    @staticmethod
    def _result(
        a: _Address,
        reason: Reason,
        *,
        mx: str | None = None,
        code: int | None = None,
        catch_all: bool = False,
    ) -> Result:
        result = Result(a.email, verdict_of(reason), reason, mx=mx, smtp_code=code, catch_all=catch_all)
        return replace(result, disposable=a.disposable, role=a.role)


def _hosts(lookup: MxLookup) -> list[tuple[str, tuple[str, ...]]]:
    return [(h.host, h.addresses) for h in lookup.hosts]
