from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from services.runtime import migrations
from tests.harness import ServiceStack


@pytest.fixture(scope="session")
def stack(nats_url: str, fresh_database_url_session: Callable[[], str]) -> Iterator[ServiceStack]:
    database_url = fresh_database_url_session()
    migrations.upgrade(database_url)
    test_stack = ServiceStack(nats_url=nats_url, database_url=database_url)
    try:
        test_stack.start("sequencer", "importer", "gateway")
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
async def client(stack: ServiceStack, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as http:
        yield http
