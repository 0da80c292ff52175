"""The mailer's SMTP conversations in a child process (`SmtpProcess`), against a real submission server
(aiosmtpd, STARTTLS with a certificate made here, AUTH): outcomes of every kind come back in order, the
child's TLS trust is `LEADFLOW_MAIL_CA_FILE`, a child killed under a batch leaves the message it may have
been sending uncertain and the rest safe to retry, and a child never outlives its service."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from services.mailer.domain import Security
from services.mailer.smtp_pool import Delivered, Endpoint, Refused, TryLater, Unknown
from services.mailer.smtp_process import SmtpProcess
from tests.peers.submission import Certificate, SubmissionServer

SENDER = "sender@example.com"


def message(to: str, n: int) -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {to}\r\nSubject: message {n}\r\nMessage-ID: <{n}@leadflow.test>\r\n\r\n"
        f"Body {n}\r\n"
    ).encode()


@pytest.fixture(scope="module")
def certificate() -> Certificate:
    return Certificate.self_signed()


@pytest.fixture
def server(certificate: Certificate) -> Iterator[SubmissionServer]:
    server = SubmissionServer(certificate).start()
    yield server
    server.stop()


@pytest.fixture
async def child(certificate: Certificate) -> AsyncIterator[SmtpProcess]:
    process = SmtpProcess(ca_file=certificate.cert_path, timeout=5)
    yield process
    await process.close()


def endpoint_of(server: SubmissionServer) -> Endpoint:
    return Endpoint(server.host, server.port, server.username, server.password, Security.STARTTLS)


async def test_a_batch_comes_back_in_order_with_each_outcome(
    child: SmtpProcess, server: SubmissionServer
) -> None:
    server.handler.refused.add("nobody@example.org")
    server.rcpt_answers["busy@example.org"] = ["451 4.3.0 try again later"]
    recipients = ["a@example.org", "nobody@example.org", "busy@example.org", "b@example.org"]
    before = datetime.now(UTC)

    done = await child.deliver_batch(
        uuid4(), endpoint_of(server), SENDER, [(to, message(to, n)) for n, to in enumerate(recipients)]
    )

    outcomes = [outcome for outcome, _ in done]
    assert isinstance(outcomes[0], Delivered) and outcomes[0].code == 250
    assert isinstance(outcomes[1], Refused) and (outcomes[1].stage, outcomes[1].code) == ("rcpt", 550)
    assert "User unknown" in outcomes[1].text
    assert isinstance(outcomes[2], TryLater) and outcomes[2].code == 451
    assert isinstance(outcomes[3], Delivered)
    times = [at for _, at in done]
    assert before <= times[0] <= times[1] <= times[2] <= times[3] <= datetime.now(UTC)
    with server.lock:
        assert [r.message["Subject"] for r in server.received] == ["message 0", "message 3"]
        assert [r.rcpt_tos for r in server.received] == [("a@example.org",), ("b@example.org",)]


async def test_one_connection_per_mailbox_is_kept_across_batches(
    child: SmtpProcess, server: SubmissionServer
) -> None:
    mailbox = uuid4()
    for n in range(3):
        [(outcome, _)] = await child.deliver_batch(
            mailbox, endpoint_of(server), SENDER, [("x@example.org", message("x@example.org", n))]
        )
        assert isinstance(outcome, Delivered)
    assert server.logins == [(server.username, True)]
    # Batches of two mailboxes side by side each go over their own connection.
    other = uuid4()
    results = await asyncio.gather(
        child.deliver_batch(mailbox, endpoint_of(server), SENDER, [("y@example.org", message("y", 9))]),
        child.deliver_batch(other, endpoint_of(server), SENDER, [("z@example.org", message("z", 8))]),
    )
    assert all(isinstance(outcome, Delivered) for batch in results for outcome, _ in batch)
    assert len(server.logins) == 2


async def test_the_childs_trust_is_the_ca_file(server: SubmissionServer) -> None:
    untrusting = SmtpProcess(timeout=5)
    try:
        [(outcome, _)] = await untrusting.deliver_batch(
            uuid4(), endpoint_of(server), SENDER, [("a@example.org", message("a", 0))]
        )
    finally:
        await untrusting.close()
    assert isinstance(outcome, TryLater) and outcome.code is None
    assert "certificate" in outcome.text.lower()
    assert server.received == []


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never says a word (a server hung before its greeting)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield listener.getsockname()[1]
    listener.close()


async def test_a_child_killed_under_a_batch_leaves_one_uncertain_and_the_rest_to_retry(
    child: SmtpProcess, server: SubmissionServer, silent_port: int
) -> None:
    hung = Endpoint("127.0.0.1", silent_port, "", "", Security.NONE)
    batch = asyncio.create_task(
        child.deliver_batch(uuid4(), hung, SENDER, [(f"{n}@example.org", message("h", n)) for n in range(3)])
    )
    deadline = time.monotonic() + 10
    while child.pid is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the first conversation is under way (waiting for the greeting)
    pid = child.pid
    os.kill(pid, signal.SIGKILL)

    outcomes = [outcome for outcome, _ in await asyncio.wait_for(batch, 10)]
    assert isinstance(outcomes[0], Unknown)
    assert all(isinstance(o, TryLater) and o.code is None for o in outcomes[1:])
    # The next delivery starts a new child.
    [(outcome, _)] = await child.deliver_batch(
        uuid4(), endpoint_of(server), SENDER, [("a@example.org", message("a", 0))]
    )
    assert isinstance(outcome, Delivered)
    assert child.pid not in (None, pid)


async def test_closing_ends_the_child(child: SmtpProcess, server: SubmissionServer) -> None:
    await child.deliver_batch(uuid4(), endpoint_of(server), SENDER, [("a@example.org", message("a", 0))])
    pid = child.pid
    assert pid is not None
    await child.close()
    assert child.pid is None
    assert not _alive(pid)


def test_the_child_ends_when_its_service_is_killed(
    certificate: Certificate, server: SubmissionServer
) -> None:
    """`kill -9` of the mailer: its child sees its stdin close and ends, whatever it was doing."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys, uuid
        from pathlib import Path
        from services.mailer.domain import Security
        from services.mailer.smtp_pool import Endpoint
        from services.mailer.smtp_process import SmtpProcess

        async def main() -> None:
            child = SmtpProcess(ca_file=Path({str(certificate.cert_path)!r}), timeout=5)
            endpoint = Endpoint({server.host!r}, {server.port}, {server.username!r}, {server.password!r},
                                Security.STARTTLS)
            await child.deliver_batch(uuid.uuid4(), endpoint, "s@example.com", [("a@example.org", b"x\\r\\n")])
            print(child.pid, flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _alive(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(pid):
            assert time.monotonic() < deadline, "the SMTP process outlived its service"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    """Running (a zombie left for its reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
