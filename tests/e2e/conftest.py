from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.aio.client import Client

from tests.harness import ServiceStack
from tests.stack_fixtures import create_workspace_key

__all__ = ["create_workspace_key"]


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
