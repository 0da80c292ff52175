"""`leadflow up` brings NATS and PostgreSQL back after a `kill -9`, and the services carry on by themselves."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from services.runtime.db import psycopg_conninfo
from services.runtime.embedded import free_port
from tests.e2e.test_leadflow_up import Up
from tests.peers.fakedns import start as start_dns
from tests.peers.fakedns import stop as stop_dns

ROWS = 50_000


@dataclass
class Running:
    up: Up
    key: str
    data_dir: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = json.loads((self.data_dir / "stack.json").read_text())
        return record

    def nats_server(self) -> psutil.Process:
        (server,) = [p for p in psutil.Process(self.up.process.pid).children() if p.name() == "nats-server"]
        return server

    def postmaster_pid(self) -> int:
        pid_file = self.data_dir / "postgres" / "pgdata" / "postmaster.pid"
        return int(pid_file.read_text().splitlines()[0])

    def up_log(self) -> list[dict[str, Any]]:
        lines = (self.data_dir / "logs" / "up.log").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture
def running() -> Iterator[Running]:
    """`leadflow up` on a folder of its own, its validator pointed at a DNS server that knows no domain (so
    verifying the leads costs one lookup, not one per lead)."""
    folder = Path(tempfile.mkdtemp(prefix="leadflow-up-"))
    dns, dns_port = start_dns("")
    up = Up(
        folder / "data",
        free_port(),
        XDG_STATE_HOME=str(folder / "state"),
        LEADFLOW_DNS_NAMESERVERS=f"127.0.0.1:{dns_port}",
        LEADFLOW_VALIDATOR_DNS_CANARIES="",
    )
    try:
        yield Running(up, up.wait_ready(), folder / "data")
    finally:
        code = up.interrupt()
        stop_dns(dns)
        shutil.rmtree(folder, ignore_errors=True)
        assert code == 0, "".join(up.output[-40:])


def big_csv(rows: int) -> bytes:
    lines = ["email,first_name"] + [f"lead{i:06d}@nowhere.cz,Name{i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def start_import(stack: Running, name: str, rows: int) -> tuple[str, str]:
    campaign = httpx.post(f"{stack.up.url}/api/v1/campaigns", json={"name": name}, headers=stack.headers)
    assert campaign.status_code == 201, campaign.text
    campaign_id = campaign.json()["id"]
    started = httpx.post(
        f"{stack.up.url}/api/v1/campaigns/{campaign_id}/imports",
        headers=stack.headers,
        files={"file": ("leads.csv", big_csv(rows), "text/csv")},
        data={"mapping": json.dumps({"email": "email", "first_name": "first_name"})},
        timeout=60,
    )
    assert started.status_code == 202, started.text
    return campaign_id, started.json()["id"]


def wait_until(what: str, check: Any, within: float) -> Any:
    deadline = time.monotonic() + within
    while True:
        try:
            result = check()
        except (httpx.HTTPError, psycopg.Error, OSError, psutil.Error, ValueError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {within:g}s")
        time.sleep(0.1)


def import_status(stack: Running, import_id: str) -> dict[str, Any] | None:
    response = httpx.get(f"{stack.up.url}/api/v1/imports/{import_id}", headers=stack.headers, timeout=5)
    return response.json() if response.status_code == 200 else None


def assert_imported_exactly_once(stack: Running, campaign_id: str, import_id: str, rows: int) -> None:
    done = wait_until(
        "the import's end",
        lambda: (s := import_status(stack, import_id)) and s["state"] != "running" and s,
        within=240,
    )
    assert done["state"] == "completed", done
    assert done["counts"]["imported"] == rows, done
    assert sum(done["counts"].values()) == rows, done
    with psycopg.connect(psycopg_conninfo(stack.record["database_url"])) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT email_key) FROM importer.leads WHERE import_id = %s",
            (uuid.UUID(import_id),),
        ).fetchone() or (0, 0)
    assert total == distinct == rows
    listed = wait_until(
        "every lead listed",
        lambda: (
            (
                page := httpx.get(
                    f"{stack.up.url}/api/v1/campaigns/{campaign_id}/leads", headers=stack.headers, timeout=10
                ).json()
            )["total"]
            >= rows
            and page
        ),
        within=240,
    )
    assert listed["total"] == rows


def test_nats_killed_mid_import_comes_back_and_the_import_completes_exactly_once(running: Running) -> None:
    nats_url = running.record["nats_url"]
    server = running.nats_server()
    campaign_id, import_id = start_import(running, "NATS crash", ROWS)

    status = wait_until(
        "a kill window",
        lambda: (s := import_status(running, import_id)) and 2_000 <= s["rows_done"] < ROWS - 10_000 and s,
        within=120,
    )
    assert status["state"] == "running"
    os.kill(server.pid, signal.SIGKILL)

    # The supervisor reaps the dead server (no zombie is left) and starts another on the same port.
    wait_until("the dead nats-server reaped", lambda: not psutil.pid_exists(server.pid), within=10)
    again = wait_until("a new nats-server", lambda: running.nats_server(), within=30)
    assert again.pid != server.pid
    assert running.record["nats_url"] == nats_url
    port = int(nats_url.rsplit(":", 1)[1])
    assert wait_until(
        "NATS listening on its port",
        lambda: any(c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in again.net_connections()),
        within=30,
    )
    assert_imported_exactly_once(running, campaign_id, import_id, ROWS)
    assert any(line["event"] == "NATS exited, restarting" for line in running.up_log())
    assert httpx.get(f"{running.up.url}/readyz").status_code == 200


def test_postgres_killed_comes_back_and_the_services_recover(running: Running) -> None:
    database_url = running.record["database_url"]
    postmaster = running.postmaster_pid()
    os.kill(postmaster, signal.SIGKILL)

    restarted = wait_until(
        "a new postmaster",
        lambda: (pid := running.postmaster_pid()) != postmaster and psutil.pid_exists(pid) and pid,
        within=60,
    )
    assert running.record["database_url"] == database_url
    assert wait_until(
        "the gateway ready again",
        lambda: httpx.get(f"{running.up.url}/readyz", timeout=5).status_code == 200,
        within=60,
    )
    campaign_id, import_id = start_import(running, "after the database came back", 5_000)
    assert_imported_exactly_once(running, campaign_id, import_id, 5_000)
    assert running.postmaster_pid() == restarted
    assert any(line["event"] == "PostgreSQL exited, restarting" for line in running.up_log())


def test_postgres_killed_mid_import_comes_back_and_the_import_completes_exactly_once(
    running: Running,
) -> None:
    postmaster = running.postmaster_pid()
    campaign_id, import_id = start_import(running, "PostgreSQL crash", ROWS)
    wait_until(
        "a kill window",
        lambda: (s := import_status(running, import_id)) and 2_000 <= s["rows_done"] < ROWS - 10_000 and s,
        within=120,
    )
    os.kill(postmaster, signal.SIGKILL)
    wait_until("a new postmaster", lambda: running.postmaster_pid() != postmaster, within=60)
    assert_imported_exactly_once(running, campaign_id, import_id, ROWS)
    # The validator's batches claimed when the database went away are recorded or handed back once it
    # is back, not left to wait out their 15-minute lease.
    wait_until(
        "every lead verified",
        lambda: (
            httpx.get(
                f"{running.up.url}/api/v1/campaigns/{campaign_id}/leads",
                params={"validation": "pending", "limit": 1},
                headers=running.headers,
                timeout=10,
            ).json()["total"]
            == 0
        ),
        within=120,
    )
