"""The whole stack (sequencer, importer, mailer, inbox, gateway) as processes on the session's NATS and
PostgreSQL, and a workspace key for it: ONE per session, shared by the e2e and browser tests. Two stacks on one NATS
would answer each other's requests (the same queue groups over different databases)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from services.runtime.embedded import free_port
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.smtp_capture import CaptureAddress, CaptureServer
from tests.harness import ServiceProcess, ServiceStack
from tests.peers.submission import Certificate, SubmissionServer


@pytest.fixture(scope="session")
def stack(nats_server: EmbeddedNats, fresh_database_url_session: Callable[[], str]) -> Iterator[ServiceStack]:
    database_url = fresh_database_url_session()
    migrations.upgrade(database_url, MIGRATED_SERVICES)
    test_stack = ServiceStack(nats=nats_server, database_url=database_url)
    try:
        test_stack.start("sequencer", "importer", "mailer", "inbox", "gateway")
        yield test_stack
    finally:
        test_stack.stop()


def create_workspace_key(stack: ServiceStack, name: str) -> str:
    """Through the real CLI, as a user would: the key is the last line it prints."""
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "workspace", "create", name],
        env={**os.environ, "LEADFLOW_DATABASE_URL": stack.database_url},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def api_key(stack: ServiceStack) -> str:
    return create_workspace_key(stack, "Acme outreach")


@pytest.fixture
def smtp_server() -> Iterator[SubmissionServer]:
    """A submission server (aiosmtpd) on loopback taking AUTH without TLS: the stack's mailer trusts the
    system's certificate authorities, not a test's. A module that needs another one defines its own."""
    server = SubmissionServer(Certificate.self_signed(), security="none").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[CaptureServer]:
    """A local SMTP capture (as `leadflow up` runs one) on a free port, keeping a Maildir of its own."""
    server = CaptureServer(CaptureAddress("127.0.0.1", free_port()), tmp_path / "outbox")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def capturing_gateway(stack: ServiceStack, capture: CaptureServer) -> Iterator[ServiceProcess]:
    """One more gateway of the stack, given the capture's Maildir (LEADFLOW_CAPTURE_DIR, as `up` sets it)."""
    gateway = stack.extra("gateway", LEADFLOW_CAPTURE_DIR=str(capture.folder))
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()
