from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.client import Client

from tests.harness import ServiceStack, require_installed
from tests.peers.dovecot import DOVECOT, Dovecot
from tests.peers.submission import SubmissionServer
from tests.stack_fixtures import create_workspace_key

__all__ = ["MAIL_PASSWORD", "create_workspace_key"]

# The password of the test mail servers' one account (submission and IMAP).
MAIL_PASSWORD = "correct horse"


@pytest.fixture
async def client(stack: ServiceStack, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as http:
        yield http


@pytest.fixture
async def nc(stack: ServiceStack) -> AsyncIterator[Client]:
    """A NATS connection to the stack's server: tests publish events straight to the stream with it."""
    connection = await nats.connect(stack.nats_url)
    try:
        yield connection
    finally:
        await connection.drain()


@pytest.fixture
async def own(stack: ServiceStack, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """A workspace of the test's own (named after its module): the session's other tests never see its
    campaigns, mailboxes or messages."""
    key = create_workspace_key(stack, request.module.__name__.rsplit(".", 1)[-1])
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        yield http


@pytest.fixture(scope="module")
def starttls_smtp(stack: ServiceStack) -> Iterator[SubmissionServer]:
    """A submission server with STARTTLS and AUTH, presenting the certificate the stack's services trust."""
    peer = SubmissionServer(stack.mail_certificate, security="starttls", password=MAIL_PASSWORD).start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture(scope="module")
def dovecot(stack: ServiceStack, request: pytest.FixtureRequest) -> Iterator[Dovecot]:
    """A dovecot with the module's `SENDER` as its one account, presenting the stack's trusted certificate."""
    require_installed(Path(DOVECOT), "apt-get install dovecot-imapd")
    peer = Dovecot(stack.mail_certificate, username=request.module.SENDER, password=MAIL_PASSWORD).start()
    try:
        yield peer
    finally:
        peer.stop()
