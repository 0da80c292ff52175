"""The mailbox connection test against real SMTP servers (aiosmtpd with AUTH, STARTTLS or TLS, a certificate
made here) and a real IMAP server (dovecot): a good login works, and each failure is said in words a person can act on."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.mailer.connection_test import ConnectionTester, Login
from services.mailer.domain import Security
from tests.harness import require_installed
from tests.peers.dovecot import DOVECOT, Dovecot
from tests.peers.fakemx import free_port
from tests.peers.submission import Certificate, SubmissionServer


@pytest.fixture(scope="module")
def certificate() -> Certificate:
    return Certificate.self_signed()


@pytest.fixture
def server(request: pytest.FixtureRequest, certificate: Certificate) -> Iterator[SubmissionServer]:
    peer = SubmissionServer(certificate, security=request.param).start()
    try:
        yield peer
    finally:
        peer.stop()


def connection_tester(certificate: Certificate, timeout: float = 5.0) -> ConnectionTester:
    return ConnectionTester(timeout=timeout, tls_context=certificate.client_context())


def login(peer: SubmissionServer, password: str | None = None, security: str | None = None) -> Login:
    return Login(
        peer.host,
        peer.port,
        peer.username,
        peer.password if password is None else password,
        Security(security or peer.security),
    )


@pytest.mark.parametrize("server", ["starttls", "tls", "none"], indirect=True)
async def test_a_good_login_works(server: SubmissionServer, certificate: Certificate) -> None:
    outcome = await connection_tester(certificate).smtp(login(server))
    assert (outcome.ok, outcome.error) == (True, None)
    assert server.logins == [(server.username, True)]


@pytest.mark.parametrize("server", ["starttls", "tls"], indirect=True)
async def test_a_wrong_password_is_an_authentication_failure(
    server: SubmissionServer, certificate: Certificate
) -> None:
    outcome = await connection_tester(certificate).smtp(login(server, password="wrong"))
    assert not outcome.ok
    assert outcome.error is not None and "authentication failed" in outcome.error
    assert "535" in outcome.error
    # aiosmtplib tries each mechanism the server offers (PLAIN, LOGIN): every one was refused.
    assert server.logins and all(not accepted for _, accepted in server.logins)


async def test_a_closed_port_is_a_refused_connection(certificate: Certificate) -> None:
    port = free_port()
    outcome = await connection_tester(certificate).smtp(Login("127.0.0.1", port, "u", "p", Security.STARTTLS))
    assert not outcome.ok
    assert outcome.error == f"The SMTP connection to 127.0.0.1:{port} was refused: nothing listens there"


@pytest.mark.parametrize("server", ["tls"], indirect=True)
async def test_an_untrusted_certificate_is_a_tls_failure(server: SubmissionServer) -> None:
    outcome = await ConnectionTester(timeout=5.0).smtp(login(server))
    assert not outcome.ok
    assert outcome.error is not None and outcome.error.startswith("TLS with the SMTP server")
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.error
    assert server.logins == []


@pytest.mark.parametrize("server", ["none"], indirect=True)
async def test_starttls_asked_of_a_server_without_it_says_so(
    server: SubmissionServer, certificate: Certificate
) -> None:
    outcome = await connection_tester(certificate).smtp(login(server, security="starttls"))
    assert not outcome.ok
    assert outcome.error is not None and "STARTTLS" in outcome.error
    assert server.logins == []


@pytest.mark.parametrize("server", ["starttls"], indirect=True)
async def test_a_login_in_the_clear_where_starttls_is_required_says_so(
    server: SubmissionServer, certificate: Certificate
) -> None:
    outcome = await connection_tester(certificate).smtp(login(server, security="none"))
    assert outcome.error == (
        f"The SMTP server at {server.host}:{server.port} wants STARTTLS before the login: "
        "the server said 530 Must issue a STARTTLS command first"
    )
    assert server.logins == []


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()


async def test_a_server_that_never_greets_is_a_timeout(silent_port: int, certificate: Certificate) -> None:
    outcome = await connection_tester(certificate, timeout=0.5).smtp(
        Login("127.0.0.1", silent_port, "u", "p", Security.NONE)
    )
    assert not outcome.ok
    assert (
        outcome.error == f"The SMTP server at 127.0.0.1:{silent_port} did not answer within 0.5 s (timeout)"
    )


async def test_a_host_that_does_not_resolve_is_a_dns_failure(certificate: Certificate) -> None:
    # `.invalid` never resolves (RFC 6761); the resolver answers at once, offline too.
    host = "mailbox-test.invalid"
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(host, 25)
    outcome = await connection_tester(certificate).smtp(Login(host, 587, "u", "p", Security.STARTTLS))
    assert not outcome.ok
    assert outcome.error is not None and outcome.error.startswith(
        f"The SMTP host of {host}:587 could not be found"
    )


@pytest.fixture(scope="module")
def imap_server(certificate: Certificate) -> Iterator[Dovecot]:
    require_installed(Path(DOVECOT), "apt-get install dovecot-imapd")
    peer = Dovecot(certificate).start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.mark.parametrize(
    ("security", "password", "ok"),
    [
        ("starttls", "correct horse", True),
        ("tls", "correct horse", True),
        ("none", "correct horse", True),
        ("starttls", "wrong", False),
        ("tls", "wrong", False),
    ],
)
async def test_an_imap_login(
    imap_server: Dovecot, certificate: Certificate, security: str, password: str, ok: bool
) -> None:
    port = imap_server.tls_port if security == "tls" else imap_server.port
    outcome = await connection_tester(certificate).imap(
        Login("127.0.0.1", port, imap_server.username, password, Security(security))
    )
    assert outcome.ok is ok, outcome.error
    if not ok:
        assert outcome.error is not None and outcome.error.startswith(
            f"IMAP authentication failed at 127.0.0.1:{port}"
        )


async def test_a_closed_imap_port_is_a_refused_connection(certificate: Certificate) -> None:
    port = free_port()
    outcome = await connection_tester(certificate).imap(Login("127.0.0.1", port, "u", "p", Security.TLS))
    assert outcome.error == f"The IMAP connection to 127.0.0.1:{port} was refused: nothing listens there"


async def test_an_untrusted_imap_certificate_is_a_tls_failure(imap_server: Dovecot) -> None:
    outcome = await ConnectionTester(timeout=5.0).imap(
        Login("127.0.0.1", imap_server.tls_port, imap_server.username, imap_server.password, Security.TLS)
    )
    assert outcome.error is not None and outcome.error.startswith("TLS with the IMAP server")
