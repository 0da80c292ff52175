"""The adapter that delivers messages: one aiosmtplib connection per mailbox, kept open and reused, opened
again when it broke, closed when idle (TLS from the start, STARTTLS or none, then AUTH when the mailbox
has a user name).

Each delivery is one SMTP transaction done a command at a time, so the outcome says where it ended:
refused at MAIL FROM, at RCPT TO or after DATA (a 5xx: final), refused for now (a 4xx, or the connection
or the login failed before DATA: safe to try again), or lost during DATA, when only the server knows
whether it took the message (`Unknown`: never sent again automatically).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

import aiosmtplib

from services.mailer.connection_test import network_failure
from services.mailer.domain import Security

DEFAULT_TIMEOUT_SECONDS = 30.0
# A connection unused this long is closed (providers drop idle ones after a minute or so anyway).
IDLE_SECONDS = 30.0


@dataclass(frozen=True)
class Endpoint:
    """Where a mailbox submits and how it logs in (the password in clear: decrypted just before use)."""

    host: str
    port: int
    username: str
    password: str
    security: Security


@dataclass(frozen=True)
class Delivered:
    code: int
    text: str


@dataclass(frozen=True)
class Refused:
    """A 5xx: the server will not take this message (`stage` says which command it answered)."""

    stage: Literal["mail", "rcpt", "data"]
    code: int
    text: str


@dataclass(frozen=True)
class TryLater:
    """Not delivered, safe to try again: a 4xx, or the connection or login failed before DATA."""

    code: int | None
    text: str


@dataclass(frozen=True)
class Unknown:
    """The connection was lost during DATA: the server may or may not have the message."""

    text: str


Outcome = Delivered | Refused | TryLater | Unknown


def _answered(stage: Literal["mail", "rcpt", "data"], exc: aiosmtplib.SMTPResponseException) -> Outcome:
    text = f"{exc.code} {exc.message}"
    if 500 <= exc.code < 600:
        return Refused(stage, exc.code, text)
    return TryLater(exc.code, text)


@dataclass
class _Connection:
    endpoint: Endpoint
    client: aiosmtplib.SMTP | None = None
    last_used: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SmtpPool:
    """Per-mailbox connections (see the module). `tls_context` is the TLS trust (the system's by default)."""

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.tls_context = tls_context or ssl.create_default_context()
        self.timeout = timeout
        self.idle_seconds = idle_seconds
        self._connections: dict[UUID, _Connection] = {}
        self.opened = 0

    async def deliver(
        self, mailbox_id: UUID, endpoint: Endpoint, sender: str, recipient: str, message: bytes
    ) -> Outcome:
        """One message over the mailbox's connection; the mailbox's deliveries go one at a time, in order."""
        connection = self._connections.get(mailbox_id)
        if connection is None or connection.endpoint != endpoint:
            if connection is not None:
                await self._close(connection)
            connection = self._connections.setdefault(mailbox_id, _Connection(endpoint))
            connection.endpoint = endpoint
        async with connection.lock:
            reused = connection.client is not None and connection.client.is_connected
            outcome = await self._transaction(connection, sender, recipient, message)
            if reused and isinstance(outcome, TryLater) and outcome.code is None:
                # A kept connection the server closed meanwhile: nothing was sent, so once more on a new one.
                outcome = await self._transaction(connection, sender, recipient, message)
            connection.last_used = time.monotonic()
            return outcome

    async def _open(self, connection: _Connection) -> aiosmtplib.SMTP | TryLater:
        endpoint = connection.endpoint
        where = f"{endpoint.host}:{endpoint.port}"
        client = aiosmtplib.SMTP(
            hostname=endpoint.host,
            port=endpoint.port,
            timeout=self.timeout,
            use_tls=endpoint.security is Security.TLS,
            start_tls=endpoint.security is Security.STARTTLS,
            tls_context=self.tls_context,
        )
        try:
            await client.connect()
            if endpoint.username:
                await client.login(endpoint.username, endpoint.password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            return TryLater(exc.code, f"SMTP login refused at {where}: {exc.code} {exc.message}")
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            return TryLater(exc.code, f"The SMTP server at {where} refused: {exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            return TryLater(None, network_failure("SMTP", where, exc, self.timeout))
        self.opened += 1
        return client

    async def _transaction(
        self, connection: _Connection, sender: str, recipient: str, message: bytes
    ) -> Outcome:
        client = connection.client
        if client is None or not client.is_connected:
            opened = await self._open(connection)
            if isinstance(opened, TryLater):
                connection.client = None
                return opened
            connection.client = client = opened
        stage: Literal["mail", "rcpt", "data"] = "mail"
        try:
            await client.mail(sender)
            stage = "rcpt"
            await client.rcpt(recipient)
            stage = "data"
            response = await client.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset(connection)
            return _answered(stage, exc)
        except UnicodeEncodeError as exc:
            await self._reset(connection)
            return Refused(stage, 553, f"the address needs SMTPUTF8, which is not used: {exc}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self._close(connection)
            if stage == "data":
                return Unknown(f"the connection was lost during DATA: {exc}")
            return TryLater(None, f"the connection failed: {exc}")
        return Delivered(response.code, f"{response.code} {response.message}")

    async def _reset(self, connection: _Connection) -> None:
        """RSET after a refused command, so the connection serves the next message; closed if that fails."""
        if connection.client is None:
            return
        try:
            await connection.client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            await self._close(connection)

    async def _close(self, connection: _Connection) -> None:
        client, connection.client = connection.client, None
        if client is None:
            return
        if client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), timeout=2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()

    async def close_idle(self) -> int:
        """Close the connections unused for `idle_seconds`; how many."""
        now = time.monotonic()
        closed = 0
        for connection in list(self._connections.values()):
            if connection.client is not None and now - connection.last_used >= self.idle_seconds:
                if connection.lock.locked():
                    continue
                async with connection.lock:
                    await self._close(connection)
                    closed += 1
        return closed

    async def close(self) -> None:
        """Close the connections not in use (at shutdown: one in the middle of a delivery is left to finish
        or be cancelled with its worker, rather than cut here and made uncertain)."""
        for connection in list(self._connections.values()):
            if not connection.lock.locked():
                with contextlib.suppress(Exception):
                    await self._close(connection)
