from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.harness import ServiceStack
from tests.stack_fixtures import create_workspace_key

__all__ = ["create_workspace_key"]


@pytest.fixture
async def client(stack: ServiceStack, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as http:
        yield http
