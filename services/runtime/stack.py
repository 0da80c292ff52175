"""`leadflow up`: the whole system on one machine, embedded servers included.

Starts (or reuses, when their URLs are set) NATS and PostgreSQL, migrates, starts each service as its own
process, restarts a service that dies, and stops everything on Ctrl-C. `<data_dir>/stack.json` tells other
`leadflow` commands (e.g. `workspace create`) where the running stack's servers are.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import structlog

from services.runtime import migrations
from services.runtime.embedded import EmbeddedNats, EmbeddedPostgres, free_port, port_is_free
from services.runtime.settings import Settings

log = structlog.get_logger(__name__)

# Services that have work today, each run as `python -m services.<name>`.
WORKER_SERVICES: tuple[str, ...] = ("sequencer", "importer", "validator")
STACK_FILE = "stack.json"
DEFAULT_NATS_PORT = 4222


@dataclass
class Endpoints:
    nats_url: str
    database_url: str


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        self.started_at = time.monotonic()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Stack:
    settings: Settings
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    def start_servers(self) -> Endpoints:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        nats_url = self.settings.nats_url
        if not nats_url:
            self.nats = EmbeddedNats(self.data_dir / "nats", port=DEFAULT_NATS_PORT)
            nats_url = self.nats.start()
        database_url = self.settings.database_url
        if not database_url:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
            database_url = self.postgres.start()
        return Endpoints(nats_url, database_url)

    def stop_servers(self) -> None:
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def gateway_port(self) -> int:
        port = self.settings.http_port
        explicit = "LEADFLOW_HTTP_PORT" in os.environ
        if explicit or port_is_free(port, self.settings.http_host):
            return port
        return free_port(self.settings.http_host)

    def start_services(self, endpoints: Endpoints, http_port: int) -> None:
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        base_env = {
            **os.environ,
            "LEADFLOW_NATS_URL": endpoints.nats_url,
            "LEADFLOW_DATABASE_URL": endpoints.database_url,
            "LEADFLOW_LOG_JSON": "true",
        }
        for name in (*WORKER_SERVICES, "gateway"):
            env = dict(base_env)
            if name == "gateway":
                env["LEADFLOW_HTTP_PORT"] = str(http_port)
            else:
                env["LEADFLOW_HEALTH_PORT"] = str(free_port())
            proc = ManagedProcess(name, [sys.executable, "-m", f"services.{name}"], env, logs / f"{name}.log")
            proc.start()
            self.processes.append(proc)

    def supervise_once(self) -> None:
        """Restart any service that exited (with a pause if it keeps crashing)."""
        for proc in self.processes:
            code = proc.exited()
            if code is None:
                continue
            quick = time.monotonic() - proc.started_at < 5
            if quick and proc.restarts >= 5:
                continue  # crash loop: leave it down, its log says why
            log.warning(
                "service exited, restarting", service=proc.name, exit_code=code, log=str(proc.log_path)
            )
            proc.restarts = proc.restarts + 1 if quick else 0
            proc.start()

    def stop_services(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    def write_stack_file(self, endpoints: Endpoints, gateway_url: str) -> None:
        payload = {
            "nats_url": endpoints.nats_url,
            "database_url": endpoints.database_url,
            "gateway_url": gateway_url,
            "pid": os.getpid(),
        }
        (self.data_dir / STACK_FILE).write_text(json.dumps(payload, indent=2))

    def remove_stack_file(self) -> None:
        (self.data_dir / STACK_FILE).unlink(missing_ok=True)


def read_stack_file(data_dir: Path) -> dict[str, str] | None:
    """The endpoints of a `leadflow up` running on `data_dir`, if one is."""
    path = data_dir / STACK_FILE
    try:
        stack = json.loads(path.read_text())
        os.kill(int(stack["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return {k: str(v) for k, v in stack.items()}


@contextlib.contextmanager
def database_url_for_cli(settings: Settings) -> Iterator[str]:
    """The database a CLI command should use: the env, else a running stack's, else the embedded one."""
    if settings.database_url:
        yield settings.database_url
        return
    stack = read_stack_file(settings.data_dir.resolve())
    if stack:
        yield stack["database_url"]
        return
    postgres = EmbeddedPostgres(settings.data_dir.resolve() / "postgres")
    url = postgres.start()
    try:
        yield url
    finally:
        postgres.stop()


def wait_until_ready(url: str, timeout: float, processes: list[ManagedProcess]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.exited() is not None for p in processes):
            return False
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return True
        time.sleep(0.2)
    return False


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_stack(settings: Settings, announce: object) -> int:
    """Run until interrupted. `announce(gateway_url, endpoints)` prints the banner once all is ready."""
    stack = Stack(settings)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        endpoints = stack.start_servers()
        migrations.upgrade(endpoints.database_url)
        http_port = stack.gateway_port()
        gateway_url = f"http://{settings.http_host}:{http_port}"
        stack.start_services(endpoints, http_port)
        if not wait_until_ready(f"{gateway_url}/readyz", 60, stack.processes):
            failed = [p for p in stack.processes if p.exited() is not None]
            names = ", ".join(f"{p.name} (log: {p.log_path})" for p in failed) or "gateway"
            print(f"Leadflow did not become ready: {names}", file=sys.stderr)
            return 1
        stack.write_stack_file(endpoints, gateway_url)
        announce(gateway_url, endpoints)  # type: ignore[operator]
        while True:
            time.sleep(0.5)
            stack.supervise_once()
    except _Stop:
        print("\nStopping Leadflow…", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.remove_stack_file()
        stack.stop_services()
        stack.stop_servers()
