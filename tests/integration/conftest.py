from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import nats
import pytest
from nats.aio.client import Client

from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from services.runtime.streams import ensure_streams


@pytest.fixture(scope="session")
def migrated_database_url(postgres_server_url: str, fresh_database_url_session: Callable[[], str]) -> str:
    url = fresh_database_url_session()
    migrations.upgrade(url, MIGRATED_SERVICES)
    return url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    await ensure_streams(client.jetstream())
    yield client
    await client.close()
