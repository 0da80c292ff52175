"""A real mail submission server (aiosmtpd, in a thread) with AUTH and STARTTLS or TLS, and the self-signed
certificate it presents, made here with cryptography's x509 (valid for 127.0.0.1 and localhost). It keeps
every message it takes, and answers RCPT TO for an address as a test says (a 550 always, or given answers
one per attempt: a 451 once), or cuts the connection after taking a message, before answering it."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.peers.fakemx import free_port


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate and its key, as PEM files, and the client context that trusts it."""

    cert_path: Path
    key_path: Path

    @classmethod
    def self_signed(cls) -> Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leadflow test")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        folder = Path(tempfile.mkdtemp(prefix="leadflow-cert-"))
        cert_path, key_path = folder / "cert.pem", folder / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cls(cert_path, key_path)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client's context that trusts this certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.cert_path))


@dataclass(frozen=True)
class Received:
    """One message the server accepted: the envelope and the message as sent."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


@dataclass
class _Accept:
    """Accepts every message (keeping it), except RCPT TO of an address in `refused` (550 5.1.1) or with
    answers left in `rcpt_answers` (the next one, per attempt); the connection of a message to an address
    in `drop_in_data` is cut once the message is taken, before the server answers it."""

    received: list[Received] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    rcpt_answers: dict[str, list[str]] = field(default_factory=dict)
    drop_in_data: set[str] = field(default_factory=set)
    # The server runs in a thread of its own; tests read `received` from theirs.
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        with self.lock:
            answers = self.rcpt_answers.get(address.lower())
            answer = answers.pop(0) if answers else None
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), message))
        if any(to.lower() in self.drop_in_data for to in envelope.rcpt_tos):
            # The message arrived, but the connection breaks before the answer: the sender cannot know.
            server.transport.abort()
        return "250 OK"


@dataclass
class SubmissionServer:
    """Accepts `username`/`password` only. `security`: "starttls" (offered, required before AUTH), "tls"
    (TLS from the first byte) or "none" (AUTH in the clear)."""

    certificate: Certificate
    security: str = "starttls"
    username: str = "sender@example.com"
    password: str = "correct horse"
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    handler: _Accept = field(default_factory=_Accept)
    _controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def lock(self) -> threading.Lock:
        return self.handler.lock

    @property
    def rcpt_answers(self) -> dict[str, list[str]]:
        return self.handler.rcpt_answers

    @property
    def drop_in_data(self) -> set[str]:
        return self.handler.drop_in_data

    def _authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        accepted = (login, password) == (self.username, self.password)
        self.logins.append((login, accepted))
        return AuthResult(success=accepted, handled=False)

    def start(self) -> SubmissionServer:
        kwargs: dict[str, Any] = {"authenticator": self._authenticate, "auth_require_tls": False}
        if self.security == "starttls":
            kwargs |= {"tls_context": self.certificate.server_context(), "require_starttls": True}
        elif self.security == "tls":
            kwargs |= {"ssl_context": self.certificate.server_context()}
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, server_hostname="localhost", **kwargs
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
