"""The adapter that tries a mailbox's servers: connects and logs in over SMTP (aiosmtplib: TLS from the start,
or STARTTLS, then AUTH) and IMAP (the standard library's imaplib, in a thread), and says what failed in
words a person can act on: the host name does not resolve, the connection was refused or timed out, TLS
failed, the server rejected the login."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import socket
import ssl
from dataclasses import dataclass

import aiosmtplib

from services.mailer.domain import Security

# Each login is bounded so that SMTP and IMAP together answer within the gateway's command timeout (15 s).
DEFAULT_TIMEOUT_SECONDS = 6.0


@dataclass(frozen=True)
class Login:
    """Where to connect and how to log in (the password in clear: decrypted just before the test)."""

    host: str
    port: int
    username: str
    password: str
    security: Security


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str | None = None


OK = Outcome(ok=True)


class ConnectionTester:
    """Tries logins. `tls_context` is the TLS trust (the system's by default; tests pass their own CA)."""

    def __init__(
        self, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, tls_context: ssl.SSLContext | None = None
    ):
        self.timeout = timeout
        self.tls_context = tls_context or ssl.create_default_context()

    async def smtp(self, login: Login) -> Outcome:
        where = f"{login.host}:{login.port}"
        client = aiosmtplib.SMTP(
            hostname=login.host,
            port=login.port,
            timeout=self.timeout,
            use_tls=login.security is Security.TLS,
            start_tls=login.security is Security.STARTTLS,
            tls_context=self.tls_context,
        )
        try:
            await client.connect()
            if login.username:
                await client.login(login.username, login.password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            said = f"the server said {exc.code} {exc.message}"
            if exc.code == 530 and "starttls" in exc.message.lower():
                return Outcome(False, f"The SMTP server at {where} wants STARTTLS before the login: {said}")
            return Outcome(False, f"SMTP authentication failed at {where}: {said}")
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome(False, f"The SMTP server at {where} refused: {exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Outcome(False, network_failure("SMTP", where, exc, self.timeout))
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
        return OK

    async def imap(self, login: Login) -> Outcome:
        return await asyncio.to_thread(self._imap, login)

    def _imap(self, login: Login) -> Outcome:
        where = f"{login.host}:{login.port}"
        client: imaplib.IMAP4 | None = None
        try:
            if login.security is Security.TLS:
                client = imaplib.IMAP4_SSL(
                    login.host, login.port, ssl_context=self.tls_context, timeout=self.timeout
                )
            else:
                client = imaplib.IMAP4(login.host, login.port, timeout=self.timeout)
                if login.security is Security.STARTTLS:
                    client.starttls(ssl_context=self.tls_context)
            if login.username:
                client.login(login.username, login.password)
        except imaplib.IMAP4.error as exc:
            words = str(exc).removeprefix("b'").removesuffix("'")
            failed = (
                "authentication failed" if "login" in words.lower() or "auth" in words.lower() else "error"
            )
            return Outcome(False, f"IMAP {failed} at {where}: {words}")
        except (OSError, TimeoutError) as exc:
            return Outcome(False, network_failure("IMAP", where, exc, self.timeout))
        finally:
            if client is not None:
                with contextlib.suppress(imaplib.IMAP4.error, OSError):
                    client.logout()
        return OK


def network_failure(protocol: str, where: str, exc: BaseException, timeout: float) -> str:
    """What a failure to connect comes to, in words; the cause chain is searched for the reason."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return f"The {protocol} host of {where} could not be found (DNS): {cause.strerror or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return f"The {protocol} connection to {where} was refused: nothing listens there"
        if isinstance(cause, ssl.SSLError | ssl.CertificateError):
            return f"TLS with the {protocol} server at {where} failed: {cause}"
        if isinstance(cause, TimeoutError | aiosmtplib.SMTPTimeoutError | socket.timeout):
            return f"The {protocol} server at {where} did not answer within {timeout:g} s (timeout)"
    text = str(exc)
    if "refused" in text.lower():
        return f"The {protocol} connection to {where} was refused: {text}"
    if "starttls" in text.lower() or "tls" in text.lower() or "ssl" in text.lower():
        return f"TLS with the {protocol} server at {where} failed: {text}"
    return f"Could not talk to the {protocol} server at {where}: {text}"
