"""The local SMTP capture server (aiosmtpd) with real clients (aiosmtplib): any login over AUTH PLAIN or
LOGIN without TLS, every message kept in the Maildir with its envelope, listed newest first and bounded."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from services.gateway.dev.outbox import newest
from services.runtime.settings import Settings
from services.runtime.smtp_capture import DEFAULT_CAPTURE_PORT, CaptureAddress, CaptureServer
from services.runtime.stack import CaptureUnavailable, Stack


def message(number: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Dana Sales <dana@sender.example>"
    mail["To"] = f"lead{number}@firma.example"
    mail["Subject"] = f"Hello number {number} — žluťoučký"
    mail["Message-ID"] = f"<send-{number}@sender.example>"
    mail.set_content(f"Dobrý den, message {number}.\nUnsubscribe: http://127.0.0.1/u/token{number}\n")
    return mail


async def send(server: CaptureServer, mail: EmailMessage, mechanism: str) -> None:
    client = aiosmtplib.SMTP(hostname=server.address.host, port=server.address.port, start_tls=False)
    await client.connect()
    try:
        await client.ehlo()
        assert client.supports_extension("auth")
        if mechanism == "LOGIN":
            await client.auth_login("anyone", "any password")
        else:
            await client.auth_plain("someone else", "whatever")
        errors, reply = await client.send_message(mail, recipients=[str(mail["To"]), "bcc@firma.example"])
        assert errors == {} and "captured" in reply
    finally:
        await client.quit()


async def test_any_login_sends_into_the_maildir_listed_newest_first(capture: CaptureServer) -> None:
    for number, mechanism in enumerate(["LOGIN", "PLAIN", "LOGIN"], 1):
        await send(capture, message(number), mechanism)
        await asyncio.sleep(0.02)
    found = newest(capture.folder, 50)
    assert [m.subject for m in found] == [f"Hello number {n} — žluťoučký" for n in (3, 2, 1)]
    last = found[0]
    assert (last.sender, last.to, last.message_id) == (
        "Dana Sales <dana@sender.example>",
        "lead3@firma.example",
        "<send-3@sender.example>",
    )
    assert last.text == "Dobrý den, message 3.\nUnsubscribe: http://127.0.0.1/u/token3\n"
    assert last.headers["X-MailFrom"] == "dana@sender.example"
    assert last.headers["X-RcptTo"] == "lead3@firma.example, bcc@firma.example"
    assert last.headers["Subject"] == "Hello number 3 — žluťoučký"
    assert abs(last.received_at.timestamp() - time.time()) < 60
    assert len({m.id for m in found}) == 3

    assert [m.subject for m in newest(capture.folder, 2)] == [m.subject for m in found[:2]]


def test_the_newest_by_delivery_time_whatever_the_file_names(tmp_path: Path) -> None:
    """Order by the time each was delivered (the files' mtimes), reading no more files than asked for."""
    import mailbox

    box = mailbox.Maildir(tmp_path / "outbox", create=True)
    keys = [box.add(message(n)) for n in range(5)]
    now = time.time()
    for age, key in zip([10, 40, 20, 50, 30], keys, strict=True):
        path = tmp_path / "outbox" / "new" / key  # a new message's file is named by its key
        os.utime(path, (now - age, now - age))
    assert [m.id for m in newest(tmp_path / "outbox", 3)] == [keys[0], keys[2], keys[4]]
    assert newest(tmp_path / "nothing-yet", 10) == []


def test_a_taken_default_port_moves_the_capture_and_a_taken_given_one_stops_up(tmp_path: Path) -> None:
    with contextlib.ExitStack() as holding:
        taken = holding.enter_context(socket.socket())
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        given = Stack(Settings(data_dir=tmp_path, capture_smtp=f"127.0.0.1:{port}"), ())
        address = given.capture_address()
        assert address == CaptureAddress("127.0.0.1", port)
        with pytest.raises(
            CaptureUnavailable, match=f"cannot listen on 127.0.0.1:{port}.*LEADFLOW_CAPTURE_SMTP"
        ):
            given.start_capture(address)

        default = holding.enter_context(socket.socket())
        default.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # taken already by something else: just as good
            default.bind(("127.0.0.1", DEFAULT_CAPTURE_PORT))
            default.listen()
        moved = Stack(Settings(data_dir=tmp_path), ()).capture_address()
        assert moved.host == "127.0.0.1" and moved.port != DEFAULT_CAPTURE_PORT

    with pytest.raises(CaptureUnavailable, match="must be host:port"):
        Stack(Settings(data_dir=tmp_path, capture_smtp="1025"), ()).capture_address()


def test_a_picked_port_taken_before_the_capture_binds_it_moves_the_capture(tmp_path: Path) -> None:
    """Two stacks starting at once both find 1025 free; the one that binds second moves, not fails."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = Stack(Settings(data_dir=tmp_path), ())
        address = stack.start_capture(CaptureAddress("127.0.0.1", port))
        try:
            assert address.host == "127.0.0.1" and address.port != port
            with socket.create_connection(("127.0.0.1", address.port), timeout=5) as client:
                assert client.recv(3) == b"220"
        finally:
            stack.stop_capture()
