"""The embedded NATS and PostgreSQL servers: start, JetStream, databases, restarts, taken ports."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import nats.errors
import psutil
import psycopg
import pytest

from services.composition import bus_grants
from services.runtime.embedded import free_port, port_is_free
from services.runtime.embedded_nats import EmbeddedNats, nats_server_executable
from services.runtime.embedded_pg import (
    ClusterFromAnotherVersion,
    EmbeddedPostgres,
    bundled_major_version,
    create_database,
    url_for_psycopg,
)
from tests.harness import TEST_CLIENT, TEST_CLIENT_GRANT

pytestmark = pytest.mark.infra


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A private directory removed afterwards (servers started in it must be stopped by the test)."""
    path = Path(tempfile.mkdtemp(prefix="leadflow-test-embedded-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_nats_server_executable_comes_from_the_package() -> None:
    executable = Path(nats_server_executable())
    assert executable.is_file()
    assert executable.name.startswith("nats-server")


def test_url_for_psycopg() -> None:
    assert (
        url_for_psycopg("postgresql+psycopg://postgres@/db?host=/run/pg")
        == "postgresql://postgres@/db?host=/run/pg"
    )
    assert url_for_psycopg("postgresql://u:p@h:5/db") == "postgresql://u:p@h:5/db"
    with pytest.raises(ValueError):
        url_for_psycopg("sqlite:///x.db")


async def test_nats_jetstream_deduplicates(nats_url: str) -> None:
    assert nats_url.startswith(f"nats://{TEST_CLIENT}:") and "@127.0.0.1:" in nats_url
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        name = f"EMBEDDED_{uuid.uuid4().hex[:8].upper()}"
        await js.add_stream(name=name, subjects=[f"{name.lower()}.>"])
        first = await js.publish(f"{name.lower()}.x", b"one", headers={"Nats-Msg-Id": "msg-1"})
        second = await js.publish(f"{name.lower()}.x", b"one", headers={"Nats-Msg-Id": "msg-1"})
        assert not first.duplicate
        assert second.duplicate
        assert second.seq == first.seq
        info = await js.stream_info(name)
        assert info.state.messages == 1
        await js.delete_stream(name)
    finally:
        await nc.close()


async def test_postgres_answers(postgres_server_url: str) -> None:
    assert postgres_server_url.startswith("postgresql+psycopg://postgres@/postgres?host=")
    async with await psycopg.AsyncConnection.connect(url_for_psycopg(postgres_server_url)) as conn:
        cursor = await conn.execute("select version()")
        row = await cursor.fetchone()
    assert row is not None
    assert str(row[0]).startswith("PostgreSQL ")


async def test_create_database(postgres_server_url: str, fresh_database_url: Callable[[], str]) -> None:
    url = fresh_database_url()
    name = url.split("?", 1)[0].rsplit("/", 1)[1]
    assert name.startswith("test_")
    assert url == postgres_server_url.replace("/postgres?", f"/{name}?")
    assert create_database(postgres_server_url, name) == url  # already there: no error, same URL
    async with await psycopg.AsyncConnection.connect(url_for_psycopg(url)) as conn:
        cursor = await conn.execute("select current_database()")
        assert await cursor.fetchone() == (name,)
    with pytest.raises(ValueError):
        create_database(postgres_server_url, "bad name; drop")


async def test_postgres_restart_keeps_data(scratch_dir: Path) -> None:
    server = EmbeddedPostgres(scratch_dir / "pg")
    try:
        url = await asyncio.to_thread(server.start)
        async with await psycopg.AsyncConnection.connect(url_for_psycopg(url), autocommit=True) as conn:
            await conn.execute("create table kept (value text)")
            await conn.execute("insert into kept values ('survives')")
        pid = server.pid
        assert pid is not None

        await asyncio.to_thread(server.stop)
        assert _gone(pid)
        assert not server.running
        with pytest.raises(RuntimeError):
            _ = server.url
        await asyncio.to_thread(server.stop)  # idempotent

        again = await asyncio.to_thread(server.start)
        assert again == url
        assert server.pid != pid
        async with await psycopg.AsyncConnection.connect(url_for_psycopg(again)) as conn:
            cursor = await conn.execute("select value from kept")
            assert await cursor.fetchall() == [("survives",)]
        pid = server.pid
    finally:
        await asyncio.to_thread(server.stop)
    assert pid is not None and _gone(pid)


def test_postgres_refuses_a_cluster_of_another_major_version_and_leaves_it_alone(scratch_dir: Path) -> None:
    """A data folder of the PostgreSQL 16 Leadflow ran before: the server says what to do, touches nothing."""
    pgdata = scratch_dir / "pg" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")
    (pgdata / "base").mkdir()
    before = sorted((p.relative_to(pgdata), p.stat().st_uid, p.stat().st_mode) for p in pgdata.rglob("*"))
    server = EmbeddedPostgres(scratch_dir / "pg")

    with pytest.raises(ClusterFromAnotherVersion) as refused:
        server.start()

    message = str(refused.value)
    assert "PostgreSQL 16" in message and f"PostgreSQL {bundled_major_version()}" in message
    assert str(pgdata) in message and "LEADFLOW_DATA_DIR" in message and "pg_dumpall" in message
    assert not server.running
    after = sorted((p.relative_to(pgdata), p.stat().st_uid, p.stat().st_mode) for p in pgdata.rglob("*"))
    assert after == before


async def test_postgres_ships_the_contrib_extensions(fresh_database_url: Callable[[], str]) -> None:
    """What production PostgreSQL images have too: trigram similarity, accent folding, citext."""
    assert bundled_major_version() >= 18
    url = url_for_psycopg(fresh_database_url())
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for extension in ("pg_trgm", "unaccent", "citext", "pg_stat_statements"):
            await conn.execute(f"create extension {extension}")
        cursor = await conn.execute(
            "select unaccent('Kateřina Čapková'), 'ŘEZNÍK'::citext = 'řezník'::citext, "
            "'capkova' <% unaccent(lower('Kateřina Čapková'))"
        )
        assert await cursor.fetchone() == ("Katerina Capkova", True, True)


async def test_nats_restart_keeps_streams(scratch_dir: Path) -> None:
    server = EmbeddedNats(
        scratch_dir / "nats", users=bus_grants(), extra_users={TEST_CLIENT: TEST_CLIENT_GRANT}
    )
    try:
        url = await asyncio.to_thread(server.start)
        nc = await nats.connect(server.url_for(TEST_CLIENT))
        js = nc.jetstream()
        await js.add_stream(name="KEPT", subjects=["kept.>"])
        await js.publish("kept.a", b"survives", headers={"Nats-Msg-Id": "kept-1"})
        await nc.close()
        pid = server.pid
        assert pid is not None

        await asyncio.to_thread(server.stop)
        assert _gone(pid)
        assert (scratch_dir / "nats" / "nats.log").stat().st_size > 0

        again = await asyncio.to_thread(server.start)
        assert again == url  # the previous port is preferred on restart
        nc = await nats.connect(server.url_for(TEST_CLIENT))
        try:
            js = nc.jetstream()
            info = await js.stream_info("KEPT")
            assert info.state.messages == 1
            message = await js.get_msg("KEPT", seq=1)
            assert message.data == b"survives"
        finally:
            await nc.close()
    finally:
        await asyncio.to_thread(server.stop)


async def test_nats_taken_port_falls_back_to_a_free_one(scratch_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        assert not port_is_free(taken)

        with EmbeddedNats(scratch_dir / "nats", users=bus_grants(), port=taken) as server:
            assert server.port != taken
            assert server.url == f"nats://127.0.0.1:{server.port}"
            nc = await nats.connect(server.url_for("sequencer"))
            try:
                assert nc.is_connected
            finally:
                await nc.close()
            pid = server.pid
        assert pid is not None and _gone(pid)


def test_nats_uses_the_preferred_port_when_free(scratch_dir: Path) -> None:
    port = free_port()
    assert port_is_free(port)
    with EmbeddedNats(scratch_dir / "nats", users=bus_grants(), port=port) as server:
        assert server.url == f"nats://127.0.0.1:{port}"
        assert not port_is_free(port)
    assert port_is_free(port)


async def test_nats_killed_is_reaped_and_restarts_on_its_own_port_or_not_at_all(scratch_dir: Path) -> None:
    server = EmbeddedNats(scratch_dir / "nats", users=bus_grants())
    try:
        url = await asyncio.to_thread(server.start)
        pid = server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while server.running:  # polls the child: reaps it once it exited
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert _gone(pid)

        port = int(url.rsplit(":", 1)[1])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
            blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            blocker.bind(("127.0.0.1", port))
            blocker.listen()
            # Its clients know only this URL: another port would strand them.
            with pytest.raises(RuntimeError):
                await asyncio.to_thread(server.start, keep_port=True)
        assert await asyncio.to_thread(server.start, keep_port=True) == url
        nc = await nats.connect(server.url_for("sequencer"))
        await nc.close()
    finally:
        await asyncio.to_thread(server.stop)


async def test_nats_requires_credentials_kept_private_and_stable_across_restarts(scratch_dir: Path) -> None:
    """The services reconnect on their own after NATS restarts (`leadflow up` supervises it): the server
    must come back with the same passwords, kept 0600 in its data folder."""
    server = EmbeddedNats(scratch_dir / "nats", users=bus_grants())
    try:
        await asyncio.to_thread(server.start)
        for path in (server.credentials_path, server.config_path):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(server.url, allow_reconnect=False, connect_timeout=2)
        passwords = dict(server.credentials.passwords)
        assert set(passwords) >= {"importer", "validator", "sequencer", "gateway", "cli"}

        reconnected = asyncio.Event()

        async def on_reconnect() -> None:
            reconnected.set()

        nc = await nats.connect(
            server.url,
            user="sequencer",
            password=passwords["sequencer"],
            inbox_prefix="_INBOX.sequencer",
            reconnected_cb=on_reconnect,
            reconnect_time_wait=0.2,
            max_reconnect_attempts=-1,
        )
        try:
            # Killed, then restarted as `leadflow up`'s supervision does: the same port, the same users.
            pid = server.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while server.running:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await asyncio.to_thread(server.start, keep_port=True)
            await asyncio.wait_for(reconnected.wait(), 15)
            assert nc.is_connected
        finally:
            await nc.close()

        # Another handle on the same folder (the next `leadflow up`) reads the same credentials.
        assert dict(EmbeddedNats(scratch_dir / "nats", users=bus_grants()).credentials.passwords) == passwords
    finally:
        await asyncio.to_thread(server.stop)
