"""Pure validation logic: what an SMTP reply or a DNS answer means for an address, when the validator's
own DNS and prober can be trusted, what a pass's result leads to, and how a batch of verifications is
shared between campaigns. No I/O.

The verdict is certain only when a server said so about the mailbox itself: `valid` after a 250 to RCPT on
a domain that is not catch-all, `invalid` for a missing domain, a null MX, no mail server at all, or a
rejection that names the mailbox (unknown user, mailbox full). Everything else — a policy block aimed at
us, greylisting that never cleared, timeouts, a catch-all domain — is `unknown`: sendable, and watched for
bounces. Never falsely `valid`, never `invalid` on a guess.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter, deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from disposable_email_domains import blocklist

from contracts import Verdict
from contracts.events import MAX_BATCH, LeadsValidated, ValidatedLead


class Reason(StrEnum):
    """Why a verdict was reached; stable codes shown to users and used in filters."""

    ACCEPTED = "accepted"  # valid: the MX accepted RCPT TO for the address
    INVALID_SYNTAX = "invalid_syntax"
    NO_SUCH_DOMAIN = "no_such_domain"  # NXDOMAIN
    NULL_MX = "null_mx"  # RFC 7505: the domain accepts no mail
    NO_MAIL_SERVER = "no_mail_server"  # no MX and no A/AAAA to fall back on
    MAILBOX_NOT_FOUND = "mailbox_not_found"  # 550/551/553 with 5.1.x or user-unknown wording
    MAILBOX_FULL = "mailbox_full"  # 552 or 5.2.2
    CATCH_ALL = "catch_all"  # the domain accepts any local part: RCPT proves nothing
    POLICY_BLOCK = "policy_block"  # 5.7.x or blocking wording: the server refused us, not the address
    GREYLISTED = "greylisted"  # 4xx that never cleared within the retry schedule
    TEMPORARY_FAILURE = "temporary_failure"  # other 4xx, or 421 (service unavailable)
    SMTP_REJECTED = "smtp_rejected"  # a 5xx that says nothing certain about the mailbox
    DNS_TIMEOUT = "dns_timeout"
    DNS_ERROR = "dns_error"
    MX_UNREACHABLE = "mx_unreachable"  # every MX refused or timed out
    SMTP_TIMEOUT = "smtp_timeout"
    PROBER_BLOCKED = "prober_blocked"  # the verifier's health guard holds the lead for a later pass
    DNS_UNHEALTHY = "dns_unhealthy"  # our resolver looks broken: the lead is held for a later pass


# Never a verdict: the validator holds the lead instead (`leadflow validate` prints them as `unknown`).
HELD_REASONS: Final = frozenset({Reason.PROBER_BLOCKED, Reason.DNS_UNHEALTHY})

# Verdicts that rest on a DNS failure, which a broken resolver produces for every domain. A null MX is
# not among them: it is a record the domain's owner published, which no broken resolver makes up.
DNS_DEPENDENT: Final = frozenset(
    {Reason.NO_SUCH_DOMAIN, Reason.NO_MAIL_SERVER, Reason.DNS_TIMEOUT, Reason.DNS_ERROR}
)


VERDICT_OF: dict[Reason, Verdict] = {
    Reason.ACCEPTED: Verdict.VALID,
    Reason.INVALID_SYNTAX: Verdict.INVALID,
    Reason.NO_SUCH_DOMAIN: Verdict.INVALID,
    Reason.NULL_MX: Verdict.INVALID,
    Reason.NO_MAIL_SERVER: Verdict.INVALID,
    Reason.MAILBOX_NOT_FOUND: Verdict.INVALID,
    Reason.MAILBOX_FULL: Verdict.INVALID,
}


def verdict_of(reason: Reason) -> Verdict:
    return VERDICT_OF.get(reason, Verdict.UNKNOWN)


class RcptKind(StrEnum):
    ACCEPTED = "accepted"
    NO_MAILBOX = "no_mailbox"
    MAILBOX_FULL = "mailbox_full"
    POLICY = "policy"
    TEMPORARY = "temporary"  # 4xx: greylisting or a passing problem; retry later
    UNAVAILABLE = "unavailable"  # 421: the server is closing the connection
    REJECTED = "rejected"  # another 5xx


_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_USER_UNKNOWN = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|mailbox (not found|unavailable|"
    r"does not exist)|recipient (not found|unknown|does not exist|rejected)|unknown recipient|"
    r"does not exist|address (not found|unknown|rejected)|invalid (recipient|mailbox|address)|"
    r"not a valid (mailbox|recipient)|no mailbox|unrouteable address|account (disabled|does not exist)",
    re.IGNORECASE,
)
_POLICY = re.compile(
    r"block|blacklist|black list|listed|spamhaus|reputation|policy|denied|not permitted|banned|"
    r"spam|abuse|rejected due to|relay|authentication required|\bptr\b|reverse dns|rdns",
    re.IGNORECASE,
)


def enhanced_code(message: str) -> tuple[int, int, int] | None:
    """The RFC 3463 enhanced status code at the start of a reply text (`5.1.1 User unknown`)."""
    match = _ENHANCED.match(message)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def classify_rcpt(code: int, message: str) -> RcptKind:
    """What a reply to RCPT TO says about the mailbox.

    A 5.7.x code is checked first: a `550 5.7.1` is the server refusing us (policy), whatever the text.
    """
    if code in (250, 251):
        return RcptKind.ACCEPTED
    if code == 421:
        return RcptKind.UNAVAILABLE
    if 400 <= code < 500:
        return RcptKind.TEMPORARY
    if not 500 <= code < 600:
        return RcptKind.REJECTED
    enhanced = enhanced_code(message)
    if enhanced is not None and enhanced[1] == 7:
        return RcptKind.POLICY
    if code == 552 or (enhanced is not None and enhanced[1:] == (2, 2)):
        return RcptKind.MAILBOX_FULL
    if code in (550, 551, 553) and (
        (enhanced is not None and enhanced[1] == 1) or _USER_UNKNOWN.search(message) is not None
    ):
        return RcptKind.NO_MAILBOX
    if _POLICY.search(message) is not None:
        return RcptKind.POLICY
    return RcptKind.REJECTED


RCPT_REASON: dict[RcptKind, Reason] = {
    RcptKind.ACCEPTED: Reason.ACCEPTED,
    RcptKind.NO_MAILBOX: Reason.MAILBOX_NOT_FOUND,
    RcptKind.MAILBOX_FULL: Reason.MAILBOX_FULL,
    RcptKind.POLICY: Reason.POLICY_BLOCK,
    RcptKind.TEMPORARY: Reason.GREYLISTED,
    RcptKind.UNAVAILABLE: Reason.TEMPORARY_FAILURE,
    RcptKind.REJECTED: Reason.SMTP_REJECTED,
}


# Local parts that name a function, not a person. Flagged, never invalid by themselves.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse", "accounting", "accounts", "admin", "administrator", "billing", "booking", "careers",
        "contact", "contacts", "customerservice", "dev", "enquiries", "enquiry", "finance", "help",
        "hello", "hostmaster", "hr", "info", "inquiries", "it", "jobs", "legal", "mail", "marketing",
        "media", "news", "newsletter", "noc", "noreply", "no-reply", "donotreply", "do-not-reply",
        "office", "orders", "postmaster", "press", "privacy", "recruitment", "reception", "sales",
        "security", "service", "shop", "support", "team", "webmaster", "welcome",
        # Czech and Slovak
        "fakturace", "kancelar", "kontakt", "obchod", "objednavky", "podatelna", "podpora", "poptavky",
        "recepce", "sekretariat", "servis", "ucetni", "uctarna", "zakaznici",
    }
)  # fmt: skip


def is_role(local_part: str) -> bool:
    base = local_part.lower().split("+", 1)[0]
    return base in ROLE_LOCAL_PARTS


def is_disposable(domain: str, domains: frozenset[str] | set[str] = blocklist) -> bool:
    """The domain, or a domain it is under, is on the maintained disposable-domains list."""
    labels = domain.lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels) - 1))


@dataclass(frozen=True)
class MxHost:
    priority: int
    host: str


def order_mx(records: list[MxHost]) -> list[MxHost]:
    """Lowest preference first (RFC 5321 §5.1); equal preferences in a stable, deterministic order."""
    return sorted(records, key=lambda r: (r.priority, r.host.lower()))


def is_null_mx(records: list[MxHost]) -> bool:
    """RFC 7505: a single MX whose exchange is the root (`.`, or empty as resolvers report it)."""
    return len(records) == 1 and records[0].host.strip(".") == ""


def parse_retry_schedule(text: str) -> tuple[float, ...]:
    """`"30,120,600"` → seconds to wait before each greylisting retry; empty means no retries."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        delays = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"a retry schedule is comma-separated seconds, not {text!r}") from None
    if any(d < 0 for d in delays):
        raise ValueError(f"retry delays cannot be negative: {text!r}")
    return delays


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


@dataclass(frozen=True)
class Result:
    """One address's verdict, as `leadflow validate` prints it and LeadValidated carries it."""

    email: str
    verdict: Verdict
    reason: Reason
    mx: str | None = None
    smtp_code: int | None = None
    catch_all: bool = False
    disposable: bool = False
    role: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "verdict": self.verdict.value,
            "reason": self.reason.value,
            "mx": self.mx,
            "smtp_code": self.smtp_code,
            "catch_all": self.catch_all,
            "disposable": self.disposable,
            "role": self.role,
        }


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


def parse_domains(text: str) -> tuple[str, ...]:
    """`"gmail.com, Seznam.cz"` → `("gmail.com", "seznam.cz")`; empty means none."""
    domains = tuple(d.strip().rstrip(".").lower() for d in text.split(",") if d.strip())
    for domain in domains:
        if "." not in domain or any(not label for label in domain.split(".")) or " " in domain:
            raise ValueError(f"a canary is a domain name such as gmail.com, not {domain!r}")
    return domains


class ValidationState(StrEnum):
    """A lead's place in the queue (`validator.validations.state`): queued until a worker claims it for a
    pass, probing under that claim's lease, then done, or queued again for a later pass."""

    QUEUED = "queued"
    PROBING = "probing"
    DONE = "done"


class HoldCause(StrEnum):
    """Which part of the validator itself looked at fault when a lead was held."""

    PROBER = "prober"
    DNS = "dns"


HOLD_CAUSE: Final[Mapping[Reason, HoldCause]] = {
    Reason.PROBER_BLOCKED: HoldCause.PROBER,
    Reason.DNS_UNHEALTHY: HoldCause.DNS,
}
# Answers that are not final on a first pass: verified again on the retry schedule.
RETRIED: Final = frozenset(
    {
        Reason.GREYLISTED,
        Reason.MX_UNREACHABLE,
        Reason.SMTP_TIMEOUT,
        Reason.TEMPORARY_FAILURE,
        Reason.DNS_TIMEOUT,
        Reason.DNS_ERROR,
    }
)


@dataclass(frozen=True)
class Claimed:
    """A lead a worker claimed for one verification pass."""

    lead_id: uuid.UUID
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    email: str
    attempts: int
    run: int
    # The claim's `locked_until`: one value per claiming transaction, so it also tells this claim from a
    # later one of the same lead (after this worker's lease ran out).
    token: datetime

    @property
    def row_id(self) -> uuid.UUID:
        return self.lead_id


@dataclass(frozen=True)
class Requeue:
    """Verify the lead again after `wait_seconds`; `held_for` set when our own fault held it."""

    attempts: int
    wait_seconds: float
    held_for: HoldCause | None = None


def next_step(
    result: Result,
    attempts: int,
    retry_schedule: Sequence[float],
    held_waits: Mapping[HoldCause, float],
) -> Result | Requeue:
    """What to do with one pass's result: the lead's verdict (`Result`), or another pass later.

    A held lead keeps its attempts (our fault is not the domain's) and waits `held_waits[cause]`; a
    retried answer waits the next delay of the schedule and becomes the verdict once it is used up.
    """
    cause = HOLD_CAUSE.get(result.reason)
    if cause is not None:
        return Requeue(attempts, held_waits[cause], cause)
    if result.reason in RETRIED and attempts < len(retry_schedule):
        return Requeue(attempts + 1, retry_schedule[attempts])
    return result


VALIDATED_NAMESPACE: Final = uuid.UUID("0c6f3b1e-8d2a-4f51-9c77-3a5e2b9d1f04")


def validated_event_id(campaign_id: uuid.UUID, leads: Iterable[tuple[uuid.UUID, int]]) -> uuid.UUID:
    """Derived from the campaign and its (lead, run) pairs: a batch recorded twice is one event."""
    key = ",".join(f"{lead}:{run}" for lead, run in sorted(leads))
    return uuid.uuid5(VALIDATED_NAMESPACE, f"{campaign_id}|{key}")


def verdict_events(verdicts: Sequence[tuple[Claimed, Result]]) -> list[LeadsValidated]:
    """One `LeadsValidated` per campaign (≤ MAX_BATCH verdicts each, in the order given)."""
    by_campaign: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[Claimed, Result]]] = {}
    for lead, result in verdicts:
        by_campaign.setdefault((lead.workspace_id, lead.campaign_id), []).append((lead, result))
    events: list[LeadsValidated] = []
    for (workspace_id, campaign_id), pairs in by_campaign.items():
        for start in range(0, len(pairs), MAX_BATCH):
            chunk = pairs[start : start + MAX_BATCH]
            events.append(
                LeadsValidated(
                    event_id=validated_event_id(campaign_id, ((c.lead_id, c.run) for c, _ in chunk)),
                    workspace_id=workspace_id,
                    campaign_id=campaign_id,
                    leads=[
                        ValidatedLead(
                            lead_id=lead.lead_id,
                            email=lead.email,
                            verdict=result.verdict,
                            reason=result.reason.value,
                            mx=result.mx,
                            smtp_code=result.smtp_code,
                            catch_all=result.catch_all,
                            disposable=result.disposable,
                            role=result.role,
                            run=lead.run,
                        )
                        for lead, result in chunk
                    ],
                )
            )
    return events


@dataclass(frozen=True, order=True)
class Queue:
    """One campaign's queued leads: the unit the fair claim shares a batch over."""

    workspace_id: uuid.UUID
    campaign_id: uuid.UUID


def _split(slots: int, ways: int, rotation: int) -> list[int]:
    """`slots` in `ways` near-equal parts; the larger ones from position `rotation` on, wrapping."""
    base, extra = divmod(slots, ways)
    return [base + (1 if (i - rotation) % ways < extra else 0) for i in range(ways)]


class FairClaim:
    """How many leads to claim from each queue, in rounds, so that a batch is shared round-robin: equally
    over the workspaces with due leads, and a workspace's part equally over its campaigns (max-min fair:
    what one cannot use goes to the others, first to its own workspace's).

    How many leads a queue has due is unknown until it is asked for them (counting would cost what
    claiming does), so every queue is first asked for an equal share; one that gives fewer is drained,
    and the next round shares what is left over the others. Each round drains a queue or fills the
    batch. Parts that do not divide evenly go to the queues from position `rotation` on, so successive
    claims with a growing rotation serve every queue even when there are more queues than slots.
    """

    def __init__(self, queues: Collection[Queue], slots: int, rotation: int = 0) -> None:
        self._by_workspace: dict[uuid.UUID, list[Queue]] = {}
        for queue in sorted(set(queues)):
            self._by_workspace.setdefault(queue.workspace_id, []).append(queue)
        self._live = set(queues)
        self._slots = slots
        self._rotation = rotation
        self._asked: dict[Queue, int] = {}
        self.claimed: Counter[Queue] = Counter()

    def next_shares(self) -> dict[Queue, int]:
        """The next round's shares; empty when the batch is full or every queue is drained."""
        left = self._slots - sum(self.claimed.values())
        self._asked = {}
        if left <= 0 or not self._live:
            return {}
        live = [w for w, queues in self._by_workspace.items() if any(q in self._live for q in queues)]
        settled = sum(
            self.claimed[q] for w, queues in self._by_workspace.items() if w not in live for q in queues
        )
        wanted: dict[Queue, int] = {}
        for workspace, part in zip(
            live, _split(self._slots - settled, len(live), self._rotation), strict=True
        ):
            queues = self._by_workspace[workspace]
            open_queues = [q for q in queues if q in self._live]
            drained = sum(self.claimed[q] for q in queues if q not in self._live)
            targets = _split(part - drained, len(open_queues), self._rotation)
            for queue, target in zip(open_queues, targets, strict=True):
                if target > self.claimed[queue]:
                    wanted[queue] = target - self.claimed[queue]
        # Rounding can leave a queue a slot above its new target; never ask for more than is left.
        for queue in reversed(list(wanted)):
            excess = sum(wanted.values()) - left
            if excess <= 0:
                break
            wanted[queue] -= min(excess, wanted[queue])
        self._asked = {q: n for q, n in wanted.items() if n > 0}
        return self._asked

    def record(self, got: Mapping[Queue, int]) -> None:
        """What the round's claim took from each queue it asked."""
        for queue, asked in self._asked.items():
            taken = got.get(queue, 0)
            if taken > asked:
                raise ValueError(f"{queue} gave {taken} leads, more than the {asked} asked for")
            self.claimed[queue] += taken
            if taken < asked:
                self._live.discard(queue)
        self._asked = {}
