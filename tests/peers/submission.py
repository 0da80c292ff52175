"""A real mail submission server (aiosmtpd, in a thread) with AUTH and STARTTLS or TLS, and the self-signed
certificate it presents, made here with cryptography's x509 (valid for 127.0.0.1 and localhost). It keeps
every message it takes, and can answer RCPT TO for an address as a test says (a 550, a 451 once)."""

from __future__ import annotations

import datetime
import email
import ipaddress
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
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
    """A message the server took: its envelope and its bytes."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes

    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Accept:
    def __init__(self, server: SubmissionServer) -> None:
        self._server = server

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        with self._server.lock:
            answers = self._server.rcpt_answers.get(address.lower())
            answer = answers.pop(0) if answers else None
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if any(to.lower() in self._server.drop_in_data for to in envelope.rcpt_tos):
            # The message arrived, but the connection breaks before the answer: the sender cannot know.
            with self._server.lock:
                self._server.received.append(
                    Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), bytes(data))
                )
            server.transport.abort()
            return "421 closing"
        with self._server.lock:
            self._server.received.append(
                Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), bytes(data))
            )
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
    # Every message taken, in order; and answers to give at RCPT TO, per address, one per attempt.
    received: list[Received] = field(default_factory=list)
    rcpt_answers: dict[str, list[str]] = field(default_factory=dict)
    # Addresses whose message is taken but whose connection is cut before the server answers it.
    drop_in_data: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

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
            _Accept(self), hostname=self.host, port=self.port, server_hostname="localhost", **kwargs
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
