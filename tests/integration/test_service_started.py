"""A worker's /startedz: 503 while it is still starting (its /healthz already answers), 200 once its broker
has started and its startup hooks have run. `leadflow up` waits for it before it calls the stack ready."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import uvicorn

from services.runtime.embedded import free_port
from services.runtime.settings import Settings
from services.sequencer.app import create_service

pytestmark = pytest.mark.infra


async def status_of(client: httpx.AsyncClient, path: str) -> int | None:
    try:
        return (await client.get(path)).status_code
    except httpx.TransportError:
        return None


async def test_startedz_answers_only_once_the_service_has_started(
    migrated_database_url: str, nats_url: str
) -> None:
    port = free_port()
    service = create_service(
        Settings(nats_url=nats_url, database_url=migrated_database_url, health_port=port)
    )
    release = asyncio.Event()

    async def until_released() -> None:
        await release.wait()

    service.on_startup(until_released)  # the last step of starting: after the broker, before "started"
    server = uvicorn.Server(
        uvicorn.Config(service.asgi(), host="127.0.0.1", port=port, lifespan="on", log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(200):
                if await status_of(client, "/healthz") == 200:
                    break
                await asyncio.sleep(0.05)
            assert await status_of(client, "/healthz") == 200
            assert await status_of(client, "/startedz") == 503
            release.set()
            for _ in range(200):
                if await status_of(client, "/startedz") == 200:
                    break
                await asyncio.sleep(0.05)
            assert await status_of(client, "/startedz") == 200
            assert service.started
    finally:
        release.set()
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
    assert not service.started
