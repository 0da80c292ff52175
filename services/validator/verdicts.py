"""What an answer means for an address: the verdict rules. No I/O.

The verdict is certain only when a server said so about the mailbox itself: `valid` after a 250 to RCPT on
a domain that is not catch-all, `invalid` for a missing domain, a null MX, no mail server at all, or a
rejection that names the mailbox (unknown user, mailbox full). Everything else — a policy block aimed at
us, greylisting that never cleared, timeouts, a catch-all domain — is `unknown`: sendable, and watched for
bounces. Never falsely `valid`, never `invalid` on a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from disposable_email_domains import blocklist

from contracts import Verdict


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
