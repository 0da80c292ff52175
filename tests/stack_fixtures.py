"""The whole stack (sequencer, importer, mailer, gateway) as processes on the session's NATS and PostgreSQL, and
a workspace key for it: ONE per session, shared by the e2e and browser tests. Two stacks on one NATS
would answer each other's requests (the same queue groups over different databases)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from services.runtime.embedded_nats import EmbeddedNats
from tests.harness import ServiceStack


@pytest.fixture(scope="session")
def stack(nats_server: EmbeddedNats, fresh_database_url_session: Callable[[], str]) -> Iterator[ServiceStack]:
    database_url = fresh_database_url_session()
    migrations.upgrade(database_url, MIGRATED_SERVICES)
    test_stack = ServiceStack(nats=nats_server, database_url=database_url)
    try:
        test_stack.start("sequencer", "importer", "mailer", "gateway")
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
