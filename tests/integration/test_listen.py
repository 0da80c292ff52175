"""The one LISTEN loop against a real PostgreSQL: it hears NOTIFY, survives its connection being killed,
and wakes on its timer when nothing is said."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest

from services.runtime.backoff import Backoff
from services.runtime.db import psycopg_conninfo
from services.runtime.listen import Listener

pytestmark = pytest.mark.infra

CHANNEL = "leadflow_test_listen"


class Heard:
    def __init__(self) -> None:
        self.payloads: asyncio.Queue[str] = asyncio.Queue()
        self.connects: list[bool] = []
        self.lost = 0
        self.wakes = 0


@pytest.fixture
def conninfo(fresh_database_url: Callable[[], str]) -> str:
    return psycopg_conninfo(fresh_database_url())


@contextlib.asynccontextmanager
async def running(listener: Listener) -> AsyncIterator[None]:
    task = asyncio.create_task(listener.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def connected(listener: Listener, *, other_than: int | None = None) -> int:
    deadline = time.monotonic() + 10.0
    while listener.backend_pid is None or listener.backend_pid == other_than:
        assert time.monotonic() < deadline, "the listener did not connect"
        await asyncio.sleep(0.02)
    return listener.backend_pid


async def notify(conninfo: str, payload: str) -> None:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


def listener_for(conninfo: str, heard: Heard, *, every: float = 30.0) -> Listener:
    async def wake() -> None:
        heard.wakes += 1

    def lost() -> None:
        heard.lost += 1

    return Listener(
        conninfo,
        [CHANNEL],
        every=every,
        what="test listener",
        on_notify=lambda n: heard.payloads.put_nowait(n.payload),
        on_wake=wake,
        on_connect=heard.connects.append,
        on_lost=lost,
        backoff=Backoff(first=0.05, most=0.5),
    )


async def test_a_listener_whose_connection_is_killed_reconnects_and_still_delivers(conninfo: str) -> None:
    heard = Heard()
    listener = listener_for(conninfo, heard)
    async with running(listener):
        first_pid = await connected(listener)
        await notify(conninfo, "before")
        assert await asyncio.wait_for(heard.payloads.get(), 5.0) == "before"

        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))

        await connected(listener, other_than=first_pid)
        await notify(conninfo, "after")
        assert await asyncio.wait_for(heard.payloads.get(), 5.0) == "after"
    # Told it was a reconnection (readers that need every change must reload), and that it was lost.
    assert heard.connects == [False, True]
    assert heard.lost == 1


async def test_a_listener_wakes_on_its_timer_when_nothing_is_notified(conninfo: str) -> None:
    heard = Heard()
    listener = listener_for(conninfo, heard, every=0.1)
    async with running(listener):
        await connected(listener)
        deadline = time.monotonic() + 5.0
        while heard.wakes < 4:
            assert time.monotonic() < deadline, f"only {heard.wakes} wakes"
            await asyncio.sleep(0.05)
    assert heard.payloads.empty()
    assert heard.lost == 0


async def test_a_listener_keeps_trying_until_the_database_answers() -> None:
    heard = Heard()
    # A port nothing listens on: every attempt fails, none is fatal.
    listener = listener_for("host=127.0.0.1 port=1 dbname=none connect_timeout=1", heard)
    async with running(listener):
        deadline = time.monotonic() + 5.0
        while heard.lost < 3:
            assert time.monotonic() < deadline, f"only {heard.lost} attempts"
            await asyncio.sleep(0.05)
    assert heard.connects == []
