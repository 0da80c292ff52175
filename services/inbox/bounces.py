"""Bounces and delays: RFC 3464 delivery-status first, then the prose of the common MTAs. Pure.

Hard or soft is the enhanced status's (RFC 3463) to decide: an address that does not exist (5.1.x, but
5.1.7 and 5.1.8, which are about the sender's address) or a disabled mailbox (5.2.1) is hard; a 4.x.x is
soft even when the subject says "failed"; a policy block (5.7.x: spam, SPF/DMARC, a tenant's rules) is soft
for the lead — it says more about the sending mailbox — and marked so; a full mailbox (5.2.2), a routing or
system problem, or anything unclear is soft. A generic code (5.0.0, 5.5.0, a bare 550) is hard only when
its diagnostic says in words that the address does not exist. An unknown format is soft, never hard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from typing import Literal

from services.inbox.mime import Parts, first_message_id, header, message_ids

BounceKind = Literal["hard_bounce", "soft_bounce", "delayed", "auto_reply"]

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_CODE = re.compile(r"(?<![\d.#-])([45][0-5]\d)(?=[ -]|$)", re.MULTILINE)
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)

# The address does not exist, in words (English, Czech, German; the common MTAs' phrasings).
_NO_SUCH_ADDRESS = re.compile(
    r"user(name)? unknown|unknown (user|recipient|address|mailbox|local[- ]part)|recipient unknown|"
    r"no such (user|mailbox|recipient|address|account)|(mailbox|user|recipient|account|address) not found|"
    r"recipientnotfound|(address|mailbox|account|recipient|user)( you (tried to reach|entered))?"
    r" (does not|doesn't|did not|does no longer) exist|(does not|doesn't) exist|address couldn't be found|"
    r"invalid (recipient|mailbox|address)|no mailbox here by that name|unrouteable address|"
    r"address rejected: user unknown|not a valid (mailbox|recipient)|mailbox is disabled|account (has been )?disabled|"
    r"neexistuje|neznám(ý|á) (příjemce|uživatel|adresa)|nebyla nalezena|"
    r"(empfänger|benutzer|adresse|postfach|mailbox|nutzer)( ist)? unbekannt|unbekannte(r)? (empfänger|benutzer)|"
    r"existiert nicht|gibt es nicht|nicht gefunden|(doesn't|does not) have an? [\w.-]+ account|no such account|"
    r"not listed in (the )?([\w ]{0,30})?(directory|address book)",
    re.IGNORECASE,
)
_STILL_TRYING = re.compile(
    r"\bdelay(ed)?\b|still being retried|will (continue to )?(retry|try)|warning only|"
    r"(has )?not (yet )?been delivered( yet)?|not delivered yet|no need to resend|do not need to resend|"
    r"is still (being )?tr(ying|ied)|will be retried|retry (timeout|until)|could not (be )?(send|delivered) .*for past|"
    r"verzögert|wird (weiter(hin)? |erneut )?versucht|noch nicht zugestellt|zpožděn|bude (opakován|znovu)|"
    r"dosud nebyla doručena",
    re.IGNORECASE,
)
_GAVE_UP = re.compile(
    r"permanent(ly)?|gave up|giving up|could not be delivered|couldn't be delivered|wasn't delivered|"
    r"was not delivered|undeliverable|delivery (has )?failed|failed permanently|returned to sender|"
    r"fatal error|konnte nicht zugestellt|nicht zustellbar|unzustellbar|nedoručitel|nebylo možné doručit|"
    r"nemohla být doručena|could not be processed|was rejected|has been rejected",
    re.IGNORECASE,
)
# Who sends bounces, and how their subjects read.
_DAEMON = re.compile(
    r"^(mailer-daemon|mailer_daemon|mailerdaemon|mail-daemon|postmaster|mdaemon|bounce[sd]?)@", re.I
)
_LIST_MANAGER = re.compile(
    r"^[^@]+-(owner|bounces|admin|request)@|^(sympa|mailman|listserv|majordomo)@", re.I
)
_LIST_REFUSAL = re.compile(
    r"(automatically |has been |was )rejected|not allowed to post|unknown list|no such list|"
    r"(wurde|ist) abgelehnt|nicht berechtigt|byla odmítnuta|nemáte oprávnění",
    re.IGNORECASE,
)
_DAEMON_NAME = re.compile(
    r"mail delivery (system|subsystem|service)|mailer.daemon|postmaster|<microsoftexchange[0-9a-f]{20,}@",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|nondeliverable|non-deliverable|failed delivery|delivery unsuccessful|unable to deliver|"
    r"could not deliver|undelivered mail|returned mail|delivery status notification|delivery (status )?failure|"
    r"failure notice|mail delivery failed|delivery (has )?failed|could not be delivered|"
    r"message not delivered|non[- ]?delivery|delivery (delayed|notification)|delayed mail|"
    r"warning: (could not send|message .* delayed)|returned to sender|mail system error|"
    r"nedoručiteln|nedoručen|nelze doručit|unzustellbar|nicht zustellbar|zustellung (fehlgeschlagen|verzögert)|"
    r"übermittlungsfehler|benachrichtigung zum übermittlungsstatus|rückläufer|übermittlung verzögert|"
    r"delivery (problem|error|report)|message (rejected|blocked)|zpráva (odmítnuta|nedoručena)",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|odp|antw|fw|fwd|wg)\s*:", re.IGNORECASE)
# Where a bounce names the address that failed, MTA by MTA.
# An address as a bounce writes it: its domain ends in letters, so a full stop after it is not taken along.
_ADDR = r"[^<>\s@\"'(),;:]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# Where a bounce names the address that failed, MTA by MTA.
_RECIPIENT_PROSE = [
    re.compile(rf"^\s*<({_ADDR})>\s*(\(expanded from <[^>]*>\))?:", re.MULTILINE),  # Postfix, qmail
    re.compile(  # Exim: the address alone on an indented line, the reason under it
        rf"^[ \t]+({_ADDR})[ \t]*\r?\n[ \t]+(SMTP error|host |Unrouteable|mailbox is full|all relevant|"
        r"retry time|domain|\(generated|.*(?:unknown|rejected|not exist|quota))",
        re.MULTILINE | re.IGNORECASE,
    ),
    re.compile(rf"permanent fatal errors -+\s*\r?\n\s*<?({_ADDR})>?", re.IGNORECASE),  # Sendmail
    re.compile(
        rf"(?:message|e-?mail|nachricht|zprávu|zpráva)\s+(?:to|an|pro|für|for)\s+<?({_ADDR})"
        rf"|wasn't delivered to\s+<?({_ADDR})"
        r"|(?:recipients? or groups?|empfänger oder gruppen|příjemc[ie] nebo skupin[yu]):\s*\r?\n\s*\r?\n?\s*"
        rf"<?({_ADDR})"
        rf"|(?:failed|address|recipient|empfänger|adresát|příjemce)\s*:\s*<?({_ADDR})",
        re.IGNORECASE,
    ),
]
_QUOTED_MESSAGE_ID = re.compile(r"^\s*Message-I[Dd]:\s*(<[^<>\s]+@[^<>\s]+>)", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class Bounce:
    kind: BounceKind
    recipient: str | None
    status: str | None
    smtp_code: int | None
    diagnostic: str
    original_message_id: str | None
    rule: str
    policy: bool = False
    """A policy block (5.7.x): the lead is not at fault, the sending mailbox's reputation may be."""


def looks_like_bounce(message: Message, found: Parts) -> bool:
    if found.delivery_status:
        return True
    if message.get("X-Failed-Recipients"):
        return True
    sender = header(message, "From")
    addresses = _ADDRESS.findall(sender)
    subject = header(message, "Subject")
    if (addresses and _DAEMON.match(addresses[0])) or _DAEMON_NAME.search(sender):
        return True
    if addresses and _LIST_MANAGER.match(addresses[0]) and _LIST_REFUSAL.search(found.text[:3000]):
        return (
            True  # a mailing list refused the message (Mailman, Sympa: from its -owner or -bounces address)
        )
    if _REPLY_PREFIX.match(subject):
        return False
    if _BOUNCE_SUBJECT.search(subject):
        return True
    # A notice sent with the null return path (as bounces are) that says the message did not get through.
    return header(message, "Return-Path").strip() == "<>" and bool(_GAVE_UP.search(found.text[:3000]))


def read_bounce(message: Message, found: Parts) -> Bounce:
    original_id = _original_message_id(message, found)
    if found.delivery_status:
        report = _from_report(message, found, original_id)
        if report is not None:
            return report
    return _from_prose(message, found, original_id)


def _from_report(message: Message, found: Parts, original_id: str | None) -> Bounce | None:
    recipients = [b for b in found.delivery_status[1:] if b.get("action") or b.get("final-recipient")]
    if not recipients:
        recipients = [b for b in found.delivery_status if b.get("action") or b.get("status")]
    if not recipients:
        return None
    by_action = {b.get("action", "").lower().split(" ")[0]: b for b in reversed(recipients)}
    block = by_action.get("failed") or by_action.get("delayed") or recipients[0]
    action = block.get("action", "").lower().split(" ")[0]
    diagnostic = block.get("diagnostic-code", "").partition(";")[2].strip() or block.get(
        "diagnostic-code", ""
    )
    status = _status_of(block.get("status", "")) or _status_of(diagnostic)
    recipient = (
        _address_of(block.get("final-recipient", ""))
        or _address_of(block.get("original-recipient", ""))
        or _address_of(block.get("x-actual-recipient", ""))
        or _prose_recipient(message, found)
    )
    code = _smtp_code(diagnostic)
    if action == "delayed":
        return Bounce("delayed", recipient, status, code, diagnostic, original_id, "dsn.action_delayed")
    if action in ("delivered", "relayed", "expanded"):
        # Nothing failed: a delivery notice, sent automatically (no address or status to report).
        return Bounce("auto_reply", None, None, None, diagnostic, original_id, f"dsn.action_{action}")
    if action != "failed" and status is None:
        return None
    kind, rule, policy = decide(status, code, diagnostic or found.text)
    return Bounce(kind, recipient, status, code, diagnostic, original_id, f"dsn.{rule}", policy)


def _from_prose(message: Message, found: Parts, original_id: str | None) -> Bounce:
    subject = header(message, "Subject")
    text = _bounce_text(found.text)
    status = _status_of(text)
    code = _smtp_code(text)
    recipient = _prose_recipient(message, found)
    diagnostic = _diagnostic_line(text, status, code)
    delayed_subject = bool(re.search(r"delay|verzögert|zpožd|warning", subject, re.IGNORECASE))
    still_trying = (delayed_subject or _STILL_TRYING.search(text)) and not (
        _GAVE_UP.search(subject) or (not delayed_subject and _GAVE_UP.search(text))
    )
    if still_trying and (status is None or status.startswith("4")):
        return Bounce("delayed", recipient, status, code, diagnostic, original_id, "prose.still_trying")
    kind, rule, policy = decide(status, code, text)
    return Bounce(kind, recipient, status, code, diagnostic, original_id, f"prose.{rule}", policy)


# "May not exist, or you lack permission": a guess, not a statement that the address does not exist.
_HEDGED = re.compile(
    r"may not exist|might not exist|may have been (deleted|removed)|or you (do not|don't|may not) have|"
    r"možná neexistuje|nebo nemáte|existiert möglicherweise nicht|oder sie haben keine",
    re.IGNORECASE,
)


def _no_such_address(text: str) -> bool:
    return bool(_NO_SUCH_ADDRESS.search(text)) and not _HEDGED.search(text)


def decide(status: str | None, code: int | None, diagnostic: str) -> tuple[BounceKind, str, bool]:
    """Hard or soft, by the enhanced status and then the words (see the module); the rule's name, and
    whether it is a policy block."""
    if status is not None:
        klass, subject, detail = status.split(".")
        if klass == "4":
            return "soft_bounce", "status_4xx_temporary", False
        if klass == "5":
            if subject == "7":
                return "soft_bounce", "status_5_7_policy", True
            if subject == "1" and detail not in ("7", "8"):
                return "hard_bounce", "status_5_1_bad_address", False
            if (subject, detail) == ("2", "1"):
                return "hard_bounce", "status_5_2_1_disabled", False
            if detail == "0" and _no_such_address(diagnostic):
                return "hard_bounce", "status_generic_no_such_address", False
            return "soft_bounce", f"status_5_{subject}_not_the_address", False
    if code is not None and code >= 500 and _no_such_address(diagnostic):
        return "hard_bounce", "smtp_5xx_no_such_address", False
    if code is None and _no_such_address(diagnostic):
        return "hard_bounce", "words_no_such_address", False
    if code is not None and code < 500:
        return "soft_bounce", "smtp_4xx_temporary", False
    return "soft_bounce", "unknown_format_soft", False


def _status_of(text: str) -> str | None:
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else None


def _smtp_code(text: str) -> int | None:
    match = _SMTP_CODE.search(text)
    return int(match.group(1)) if match else None


def _address_of(value: str) -> str | None:
    found = _ADDRESS.search(value.partition(";")[2] or value)
    return found.group(0).lower().strip(".") if found else None


def _bounce_text(text: str) -> str:
    """A bounce's own words: its text up to where it copies the original message."""
    cut = re.search(
        r"^-+\s*(Below this line is a copy of the message|Original message|This is a copy of the message|"
        r"The original message was|Returned message|Undelivered Message Headers)",
        text,
        re.IGNORECASE | re.MULTILINE,
    )
    return text[: cut.start()] if cut else text


def _prose_recipient(message: Message, found: Parts) -> str | None:
    failed = header(message, "X-Failed-Recipients")
    if failed:
        return _address_of(failed)
    text = _bounce_text(found.text)
    own = {a.lower() for a in _ADDRESS.findall(header(message, "To") + " " + header(message, "From"))}
    for pattern in _RECIPIENT_PROSE:
        for match in pattern.finditer(text):
            value = next((g for g in match.groups() if g and "@" in g), None)
            if value is not None and value.lower().strip(".") not in own:
                return value.lower().strip(".")
    if found.original is not None:
        to = _address_of(header(found.original, "To"))
        if to:
            return to
    for candidate in _ADDRESS.finditer(text):
        value = candidate.group(0).lower().strip(".")
        if value not in own and not _DAEMON.match(value):
            return value
    return None


def _diagnostic_line(text: str, status: str | None, code: int | None) -> str:
    needle = status or (str(code) if code is not None else None)
    if needle is None:
        return ""
    for line in text.splitlines():
        if needle in line:
            return line.strip()[:500]
    return ""


def _original_message_id(message: Message, found: Parts) -> str | None:
    if found.original is not None:
        inner = first_message_id(header(found.original, "Message-ID"))
        if inner:
            return inner
    quoted = _QUOTED_MESSAGE_ID.search(found.text)
    if quoted:
        return str(quoted.group(1))
    for name in ("In-Reply-To", "References"):
        ids = message_ids(header(message, name))
        if ids:
            return str(ids[-1] if name == "References" else ids[0])
    return None
