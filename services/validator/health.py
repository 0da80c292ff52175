"""Whether the validator can trust its own checks: the SMTP prober's health and the DNS resolver's. No I/O.

A failure spread over many unrelated domains is more likely ours (port 25 blocked, a broken resolver) than
theirs; while it is, the leads it touches are held for a later pass instead of given a verdict for our own
fault. Times are seconds on one monotonic clock, passed in.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final


@dataclass
class ProbeHealth:
    """The verifier's health guard, fed with every connection attempt to an MX.

    When connections fail across many unrelated domains in a short window and none succeeds (port 25
    blocked, the prober's IP listed), the fault is ours, not theirs: `degraded` turns true, and an
    unreachable MX then holds the lead for a later pass instead of marking it `unknown`. One success
    anywhere clears it.
    """

    window_seconds: float = 120.0
    min_domains: int = 5
    _failures: deque[tuple[float, str]] = field(default_factory=deque)

    def record(self, domain: str, *, connected: bool, now: float) -> None:
        if connected:
            self._failures.clear()
            return
        self._failures.append((now, domain.lower()))
        self._trim(now)

    def degraded(self, now: float) -> bool:
        """Connections to `min_domains` or more domains failed within the window, and none succeeded
        since (a success clears the failures before it)."""
        self._trim(now)
        return len({domain for _, domain in self._failures}) >= self.min_domains

    def _trim(self, now: float) -> None:
        while self._failures and now - self._failures[0][0] > self.window_seconds:
            self._failures.popleft()


class LookupOutcome(StrEnum):
    """What one MX lookup says about the resolver: an answer, or how it failed."""

    ANSWERED = "answered"  # MX records, an implicit MX (A/AAAA) or a null MX
    NXDOMAIN = "nxdomain"
    NO_MX = "no_mx"  # the name exists but has no MX (and, for a lead's domain, no address either)
    TIMEOUT = "timeout"
    ERROR = "error"  # SERVFAIL, REFUSED, anything else


class DnsFault(StrEnum):
    """Why the validator's own DNS cannot be trusted, in the words shown to users."""

    # In the order that breaks a tie between them: the more telling first.
    NXDOMAIN = "nxdomain"
    NO_MX = "no_mx"
    UNREACHABLE = "unreachable"

    @property
    def message(self) -> str:
        return _FAULT_MESSAGES[self]


_FAULT_MESSAGES: Final[Mapping[DnsFault, str]] = {
    DnsFault.UNREACHABLE: "DNS resolver unreachable",
    DnsFault.NXDOMAIN: "resolver answers NXDOMAIN for known domains",
    DnsFault.NO_MX: "resolver answers without MX records for known mail domains",
}
_FAULT_OF: Final[Mapping[LookupOutcome, DnsFault]] = {
    LookupOutcome.NXDOMAIN: DnsFault.NXDOMAIN,
    LookupOutcome.NO_MX: DnsFault.NO_MX,
    LookupOutcome.TIMEOUT: DnsFault.UNREACHABLE,
    LookupOutcome.ERROR: DnsFault.UNREACHABLE,
}


def fault_of(failures: Iterable[LookupOutcome]) -> DnsFault:
    """The fault most of these failures point to (ties: NXDOMAIN, then no MX, then unreachable)."""
    counts = Counter(_FAULT_OF[f] for f in failures if f is not LookupOutcome.ANSWERED)
    if not counts:
        raise ValueError("no failures to explain")
    return max(DnsFault, key=lambda fault: (counts[fault], -list(DnsFault).index(fault)))


def canary_fault(outcomes: Mapping[str, LookupOutcome]) -> DnsFault | None:
    """The verdict of one canary check: DNS is at fault when most of the known mail domains fail.

    A majority, not one: a single canary may have an outage of its own, or be filtered by a company's
    resolver, and that says nothing about the rest of DNS.
    """
    failed = [outcome for outcome in outcomes.values() if outcome is not LookupOutcome.ANSWERED]
    if not outcomes or len(failed) * 2 <= len(outcomes):
        return None
    return fault_of(failed)


class Trust(StrEnum):
    """Whether a lead's DNS failure may become its verdict."""

    BELIEVE = "believe"
    HOLD = "hold"  # our DNS is at fault: hold the lead
    CHECK = "check"  # check the canaries first (no check since the lookup)


@dataclass
class DnsHealth:
    """The DNS health guard: is a DNS failure the domain's, or our resolver's?

    Canaries (`canaries`, domains that certainly have MX records) are checked every `interval_seconds`,
    and at once when lookups fail across `min_domains` unrelated domains within `window_seconds` with no
    answer in between. A DNS failure is believed only when a check that started after its lookup found
    the canaries resolving, so the first failures of a resolver that just broke are never believed
    either. Without canaries, the spread of failures alone decides, and one answer clears it.

    Times are seconds on one monotonic clock, passed in.
    """

    canaries: tuple[str, ...] = ()
    interval_seconds: float = 30.0
    window_seconds: float = 120.0
    min_domains: int = 5
    _failures: deque[tuple[float, str, LookupOutcome]] = field(default_factory=deque)
    _checked_at: float | None = None  # when the last recorded canary check started
    _fault: DnsFault | None = None  # what it found

    def record_lookup(self, domain: str, outcome: LookupOutcome, *, now: float) -> None:
        if outcome is LookupOutcome.ANSWERED:
            self._failures.clear()
            return
        self._failures.append((now, domain.lower(), outcome))
        self._trim(now)

    def record_canaries(
        self, outcomes: Mapping[str, LookupOutcome], *, started_at: float, now: float
    ) -> None:
        """A finished canary check; one that started before the last recorded one changes nothing."""
        if self._checked_at is not None and started_at < self._checked_at:
            return
        self._checked_at = started_at
        self._fault = canary_fault(outcomes)
        if self._fault is None:
            # The known domains resolve: the failures seen until the check began were the domains' own.
            while self._failures and self._failures[0][0] <= started_at:
                self._failures.popleft()
        self._trim(now)

    def spreading(self, now: float) -> bool:
        """Lookups of `min_domains` or more domains failed within the window, with no answer since."""
        self._trim(now)
        return len({domain for _, domain, _ in self._failures}) >= self.min_domains

    def fault(self, now: float) -> DnsFault | None:
        if self.canaries:
            return self._fault
        if self.spreading(now):
            return fault_of(outcome for _, _, outcome in self._failures)
        return None

    def skip_lookups(self, now: float) -> bool:
        """While the canaries fail, a lookup can only be held: do not wait for its timeout. (Without
        canaries, lookups go on: their answers are what clears the fault.)"""
        return bool(self.canaries) and self._fault is not None

    def canaries_due(self, now: float) -> bool:
        if not self.canaries:
            return False
        if self._checked_at is None or now - self._checked_at >= self.interval_seconds:
            return True
        return self._fault is None and self.spreading(now)

    def trust(self, looked_up_at: float, now: float) -> Trust:
        """For a DNS failure returned by a lookup that started at `looked_up_at`."""
        if self.fault(now) is not None:
            return Trust.HOLD
        if not self.canaries or (self._checked_at is not None and self._checked_at >= looked_up_at):
            return Trust.BELIEVE
        return Trust.CHECK

    def _trim(self, now: float) -> None:
        while self._failures and now - self._failures[0][0] > self.window_seconds:
            self._failures.popleft()


def parse_nameservers(text: str) -> list[str]:
    """`"127.0.0.1:5353, 10.0.0.2"` → the `ip[:port]` list aiodns takes (a bare IP means port 53)."""
    servers = [s.strip() for s in text.split(",") if s.strip()]
    for server in servers:
        host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
        if port and not port.isdigit():
            raise ValueError(f"a nameserver is ip or ip:port, not {server!r}")
        if not (host or server):
            raise ValueError(f"empty nameserver in {text!r}")
    return servers


def parse_domains(text: str) -> tuple[str, ...]:
    """`"gmail.com, Seznam.cz"` → `("gmail.com", "seznam.cz")`; empty means none."""
    domains = tuple(d.strip().rstrip(".").lower() for d in text.split(",") if d.strip())
    for domain in domains:
        if "." not in domain or any(not label for label in domain.split(".")) or " " in domain:
            raise ValueError(f"a canary is a domain name such as gmail.com, not {domain!r}")
    return domains
