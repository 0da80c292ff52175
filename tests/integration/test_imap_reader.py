"""The inbox's IMAP reading (`services/inbox/imap_reader.py`) against a real dovecot: TLS, STARTTLS and
plain connections; the messages after a position, byte for byte and in UID order, a page at a time; a
changed UIDVALIDITY read again from the first message; IDLE woken by an APPEND from another connection;
a server restarted under IDLE reported at once; a refused login in words."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aioimaplib import aioimaplib

from contracts.commands.mailboxes import Security
from services.inbox.imap_reader import ImapError, ImapInbox, ImapLogin, Position
from tests.harness import require_installed
from tests.peers.dovecot import DOVECOT, Dovecot
from tests.peers.fakemx import free_port
from tests.peers.submission import Certificate


@pytest.fixture(scope="module")
def certificate() -> Certificate:
    return Certificate.self_signed()


@pytest.fixture
def dovecot(certificate: Certificate) -> Iterator[Dovecot]:
    require_installed(Path(DOVECOT), "apt-get install dovecot-imapd")
    peer = Dovecot(certificate).start()
    try:
        yield peer
    finally:
        peer.stop()


def login_of(server: Dovecot, security: Security = "starttls", password: str | None = None) -> ImapLogin:
    port = server.tls_port if security == "tls" else server.port
    return ImapLogin("127.0.0.1", port, server.username, password or server.password, security)


@pytest.fixture
async def inbox(dovecot: Dovecot, certificate: Certificate) -> AsyncIterator[ImapInbox]:
    reader = ImapInbox(login_of(dovecot), tls_context=certificate.client_context(), timeout=5)
    await reader.open()
    yield reader
    await reader.close()


def message(n: int) -> bytes:
    return (
        f"From: Jana <jana@klient.cz>\r\nTo: ana@firma.cz\r\nSubject: Re: Nabidka {n}\r\n"
        f"Message-ID: <reply-{n}@klient.cz>\r\n\r\nDobry den, odpoved {n}.\r\n"
    ).encode()


async def append(server: Dovecot, certificate: Certificate, *raws: bytes) -> None:
    """Mail arriving: APPENDed over a connection of its own (as a delivery agent would add it)."""
    client = aioimaplib.IMAP4_SSL(
        "127.0.0.1", server.tls_port, timeout=5, ssl_context=certificate.client_context()
    )
    await client.wait_hello_from_server()
    await client.login(server.username, server.password)
    for raw in raws:
        answer = await client.append(raw, mailbox="INBOX")
        assert answer.result == "OK", answer.lines
    await client.logout()


@pytest.mark.parametrize("security", ["starttls", "tls", "none"])
async def test_each_kind_of_connection_reads_the_inbox(
    dovecot: Dovecot, certificate: Certificate, security: Security
) -> None:
    await append(dovecot, certificate, message(1))
    reader = ImapInbox(login_of(dovecot, security), tls_context=certificate.client_context(), timeout=5)
    uidvalidity = await reader.open()
    try:
        arrived, position = await reader.after(None)
    finally:
        await reader.close()
    assert uidvalidity > 0
    assert [a.raw for a in arrived] == [message(1)]
    assert position == Position(uidvalidity, arrived[0].uid)


async def test_messages_after_a_position_in_order_a_page_at_a_time(
    inbox: ImapInbox, dovecot: Dovecot, certificate: Certificate
) -> None:
    await append(dovecot, certificate, *(message(n) for n in range(5)))
    first, position = await inbox.after(None, limit=2)
    second, position = await inbox.after(position, limit=2)
    third, position = await inbox.after(position, limit=2)
    nothing, unchanged = await inbox.after(position)
    assert [a.raw for a in first + second + third] == [message(n) for n in range(5)]
    assert [a.uid for a in first + second + third] == sorted(a.uid for a in first + second + third)
    assert (nothing, unchanged) == ([], position)
    # Mail that arrives later is read from where reading stopped, on the same connection.
    await append(dovecot, certificate, message(5))
    later, _ = await inbox.after(position)
    assert [a.raw for a in later] == [message(5)]


async def test_another_uidvalidity_is_read_again_from_the_first_message(
    inbox: ImapInbox, dovecot: Dovecot, certificate: Certificate
) -> None:
    await append(dovecot, certificate, message(1), message(2))
    _, position = await inbox.after(None)
    stale = Position(position.uidvalidity + 1, position.last_uid)
    again, fresh = await inbox.after(stale)
    assert [a.raw for a in again] == [message(1), message(2)]
    assert fresh == position


async def test_idle_wakes_when_a_message_arrives(
    inbox: ImapInbox, dovecot: Dovecot, certificate: Certificate
) -> None:
    assert inbox.can_idle
    _, position = await inbox.after(None)
    waiting = asyncio.create_task(inbox.wait(30))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await append(dovecot, certificate, message(7))
    await asyncio.wait_for(waiting, 10)
    assert time.monotonic() - started < 5
    arrived, _ = await inbox.after(position)
    assert [a.raw for a in arrived] == [message(7)]


async def test_a_wait_that_times_out_returns_and_the_connection_still_reads(
    inbox: ImapInbox, dovecot: Dovecot, certificate: Certificate
) -> None:
    await inbox.wait(0.5)
    await append(dovecot, certificate, message(3))
    arrived, _ = await inbox.after(None)
    assert [a.raw for a in arrived] == [message(3)]


async def test_a_server_restarted_under_idle_is_reported_at_once(inbox: ImapInbox, dovecot: Dovecot) -> None:
    waiting = asyncio.create_task(inbox.wait(60))
    await asyncio.sleep(0.3)
    stopping = asyncio.create_task(asyncio.to_thread(dovecot.stop_server))
    with pytest.raises(ImapError, match="closed the connection"):
        await asyncio.wait_for(waiting, 20)
    reported = time.monotonic()
    await stopping
    stopped = time.monotonic()
    # Reported as dovecot went (its own stop takes seconds with a client in IDLE), not after a timeout.
    assert reported <= stopped + 2


async def test_a_refused_login_and_a_closed_port_say_so(dovecot: Dovecot, certificate: Certificate) -> None:
    wrong = ImapInbox(
        login_of(dovecot, password="wrong"), tls_context=certificate.client_context(), timeout=5
    )
    with pytest.raises(ImapError, match=re.escape("IMAP login refused at 127.0.0.1")):
        await wrong.open()
    port = free_port()
    closed = ImapInbox(
        ImapLogin("127.0.0.1", port, "u", "p", "tls"), tls_context=certificate.client_context(), timeout=5
    )
    with pytest.raises(ImapError, match=re.escape(f"IMAP at 127.0.0.1:{port} failed")):
        await closed.open()
