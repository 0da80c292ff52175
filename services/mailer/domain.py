"""The mailer's decisions about sender mailboxes: pure, no I/O. Which settings a mailbox may have, and what
a change makes of it. Passwords here are already encrypted (the handlers encrypt them); nothing here sees
a plain password but to tell whether one was given."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from email_validator import EmailNotValidError, validate_email

from contracts.commands import CreateMailbox, ServerIn, ServerPatch, UpdateMailbox

PORT_MIN, PORT_MAX = 1, 65535
# Far above any real mailbox (providers allow a few thousand a day), and inside PostgreSQL's integer.
DAILY_LIMIT_MIN, DAILY_LIMIT_MAX = 1, 100_000
MIN_GAP_MIN, MIN_GAP_MAX = 0, 86_400
HOST_MAX = 253


class Security(StrEnum):
    """How the connection to a server is protected: not at all, upgraded with STARTTLS, or TLS from the start."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    username: str
    password_encrypted: str
    security: Security


@dataclass(frozen=True)
class Mailbox:
    id: UUID
    workspace_id: UUID
    email: str
    name: str
    smtp: Server
    imap: Server | None
    daily_limit: int
    min_gap_seconds: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Invalid:
    """The refusal: every problem of the settings, each a sentence."""

    problems: tuple[str, ...]

    @property
    def message(self) -> str:
        return " ".join(self.problems)


def server_problems(which: str, host: str, port: int) -> list[str]:
    problems = []
    if not host.strip():
        problems.append(f"{which} host is empty.")
    elif len(host) > HOST_MAX or any(c.isspace() for c in host):
        problems.append(f"{which} host {host!r} is not a host name.")
    if not PORT_MIN <= port <= PORT_MAX:
        problems.append(f"{which} port {port} is not between {PORT_MIN} and {PORT_MAX}.")
    return problems


def settings_problems(mailbox: Mailbox) -> tuple[str, ...]:
    """Every reason `mailbox`'s settings cannot be stored; empty when they can."""
    problems = []
    try:
        validate_email(mailbox.email, check_deliverability=False)
    except EmailNotValidError as exc:
        problems.append(f"The email {mailbox.email!r} is not an address: {exc}")
    if not mailbox.name.strip():
        problems.append("The name is empty.")
    problems += server_problems("The SMTP", mailbox.smtp.host, mailbox.smtp.port)
    if mailbox.imap is not None:
        problems += server_problems("The IMAP", mailbox.imap.host, mailbox.imap.port)
    if not DAILY_LIMIT_MIN <= mailbox.daily_limit <= DAILY_LIMIT_MAX:
        problems.append(
            f"The daily limit {mailbox.daily_limit} is not between {DAILY_LIMIT_MIN} and {DAILY_LIMIT_MAX}."
        )
    if not MIN_GAP_MIN <= mailbox.min_gap_seconds <= MIN_GAP_MAX:
        problems.append(
            f"The minimum gap {mailbox.min_gap_seconds} s is not between {MIN_GAP_MIN} and {MIN_GAP_MAX} s."
        )
    return tuple(problems)


def _server(given: ServerIn, password_encrypted: str) -> Server:
    return Server(
        given.host.strip(), given.port, given.username, password_encrypted, Security(given.security)
    )


def created(
    command: CreateMailbox, smtp_password: str, imap_password: str | None, now: datetime
) -> Mailbox | Invalid:
    """The new mailbox of `command`, its passwords already encrypted; or why it is refused."""
    mailbox = Mailbox(
        id=command.mailbox_id,
        workspace_id=command.workspace_id,
        email=command.email.strip(),
        name=command.name.strip(),
        smtp=_server(command.smtp, smtp_password),
        imap=None if command.imap is None else _server(command.imap, imap_password or ""),
        daily_limit=command.daily_limit,
        min_gap_seconds=command.min_gap_seconds,
        created_at=now,
        updated_at=now,
    )
    problems = settings_problems(mailbox)
    return Invalid(problems) if problems else mailbox


def _patched(which: str, server: Server | None, patch: ServerPatch, password: str | None) -> Server | Invalid:
    if server is None:
        missing = [f for f in ("host", "port", "security") if getattr(patch, f) is None]
        if missing:
            return Invalid((f"The mailbox has no {which} settings yet: give {', '.join(missing)} too.",))
        server = Server("", 0, "", "", Security.NONE)
    return Server(
        host=server.host if patch.host is None else patch.host.strip(),
        port=server.port if patch.port is None else patch.port,
        username=server.username if patch.username is None else patch.username,
        password_encrypted=server.password_encrypted if password is None else password,
        security=server.security if patch.security is None else Security(patch.security),
    )


def updated(
    existing: Mailbox,
    command: UpdateMailbox,
    smtp_password: str | None,
    imap_password: str | None,
    now: datetime,
) -> Mailbox | Invalid:
    """`existing` with the change of `command` (a password only where one was given, already encrypted)."""
    smtp = (
        existing.smtp
        if command.smtp is None
        else _patched("SMTP", existing.smtp, command.smtp, smtp_password)
    )
    imap: Server | Invalid | None = existing.imap
    if command.remove_imap:
        imap = None
    elif command.imap is not None:
        imap = _patched("IMAP", existing.imap, command.imap, imap_password)
    refused = [r for r in (smtp, imap) if isinstance(r, Invalid)]
    if refused:
        return Invalid(tuple(p for r in refused for p in r.problems))
    assert isinstance(smtp, Server) and not isinstance(imap, Invalid)
    mailbox = replace(
        existing,
        email=existing.email if command.email is None else command.email.strip(),
        name=existing.name if command.name is None else command.name.strip(),
        smtp=smtp,
        imap=imap,
        daily_limit=existing.daily_limit if command.daily_limit is None else command.daily_limit,
        min_gap_seconds=existing.min_gap_seconds
        if command.min_gap_seconds is None
        else command.min_gap_seconds,
        updated_at=now,
    )
    problems = settings_problems(mailbox)
    return Invalid(problems) if problems else mailbox
