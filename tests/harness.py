"""Runs Leadflow's services as real processes against the test servers, as `leadflow up` would."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from services.composition import bus_grants
from services.runtime.bus_users import Grant
from services.runtime.embedded import free_port
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.secrets import new_secret_key
from tests.peers.submission import Certificate

# The test suite's own NATS identity: tests publish events straight to the stream and read it, standing in
# for services that are not running. Only the test servers know it; the services use their own users.
TEST_CLIENT = "leadflow-tests"
TEST_CLIENT_GRANT = Grant(publish=(">",), subscribe=(">",))
# The connection name of clients that break the rules on purpose (tests of the permissions themselves).
INTRUDER = "leadflow-tests-intruder"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require_installed(path: Path, install: str) -> None:
    """A system program a test needs (Chromium, dovecot). Missing in CI, where .ci/run installs it, the test
    fails at once, saying so; on a developer's machine it is skipped with the command that installs it."""
    if path.is_file():
        return
    message = f"{path} is missing: {install}"
    if in_ci():
        pytest.fail(f"{message} (.ci/run installs it under CI=true)", pytrace=False)
    pytest.skip(message)


def permission_violations(log_path: Path) -> list[str]:
    """The permission violations nats-server logged, but for those of INTRUDER connections."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    return [line for line in lines if " Violation " in line and f':{INTRUDER}"' not in line]


T = TypeVar("T")


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log_path: Path
    health_url: str
    process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}")
            # A worker's /readyz can answer before its broker has subscribed; /startedz only after.
            urls = (
                [self.health_url]
                if self.name == "gateway"
                else [self.health_url, f"{self.base_url}/startedz"]
            )
            try:
                if all(httpx.get(url, timeout=1).status_code == 200 for url in urls):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    @property
    def base_url(self) -> str:
        return self.health_url.removesuffix("/readyz")

    def kill(self) -> None:
        """SIGKILL: the crash no shutdown hook sees."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ServiceStack:
    """Services as processes on `nats` (each as its own NATS user, as `leadflow up` runs them)."""

    nats: EmbeddedNats
    database_url: str
    gateway_url: str = ""
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="leadflow-logs-")))
    # The stack's LEADFLOW_SECRET_KEY (mailbox passwords), one per stack as `leadflow up` keeps one.
    secret_key: str = field(default_factory=new_secret_key)
    # The CA the services trust for mail servers' TLS (LEADFLOW_MAIL_CA_FILE): tests' submission servers
    # present it, as a company's own SMTP server presents its private CA's certificate.
    mail_certificate: Certificate = field(default_factory=Certificate.self_signed)

    @property
    def nats_url(self) -> str:
        """The test client's URL (credentials included) for tests that publish or read events."""
        return self.nats.url_for(TEST_CLIENT)

    def env(self, name: str, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "LEADFLOW_NATS_URL": self.nats.url,
            "LEADFLOW_NATS_USER": name,
            "LEADFLOW_NATS_PASSWORD": self.nats.credentials.password(name),
            "LEADFLOW_DATABASE_URL": self.database_url,
            "LEADFLOW_LOG_JSON": "true",
            "LEADFLOW_LOG_LEVEL": "INFO",
            "LEADFLOW_SECRET_KEY": self.secret_key,
            "LEADFLOW_MAIL_CA_FILE": str(self.mail_certificate.cert_path),
            **extra,
        }

    def add(self, name: str, **extra_env: str) -> ServiceProcess:
        proc = self.extra(name, **extra_env)
        if name == "gateway":
            self.gateway_url = proc.base_url
        self.services[name] = proc
        return proc

    def extra(self, name: str, **extra_env: str) -> ServiceProcess:
        """One more process of a service (other settings, say) that the stack does not manage."""
        port = free_port()
        port_variable = "LEADFLOW_HTTP_PORT" if name == "gateway" else "LEADFLOW_HEALTH_PORT"
        env = self.env(name, **{port_variable: str(port)}, **extra_env)
        log_path = self.log_dir / f"{name}-{port}.log"
        return ServiceProcess(name, env, log_path, f"http://127.0.0.1:{port}/readyz")

    def start(self, *names: str) -> None:
        for name in names:
            self.add(name).start(wait=False)
        for name in names:
            self.services[name].wait_ready()

    def stop(self) -> None:
        for proc in reversed(list(self.services.values())):
            proc.stop()


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    """The first truthy value `check` gives, polling it; the test fails if none comes within `within` s."""
    deadline = time.monotonic() + within
    while not (value := await check()):
        assert time.monotonic() < deadline, f"timed out after {within} s"
        await asyncio.sleep(0.1)
    return value


@contextmanager
def temporary_nats() -> Iterator[EmbeddedNats]:
    """A JetStream-enabled nats-server of its own, in a temporary directory, removed afterwards. It requires
    authentication like `leadflow up`'s, and knows the test client too (`server.url_for(TEST_CLIENT)`)."""
    data_dir = Path(tempfile.mkdtemp(prefix="leadflow-test-nats-"))
    server = EmbeddedNats(data_dir, users=bus_grants(), extra_users={TEST_CLIENT: TEST_CLIENT_GRANT})
    try:
        server.start()
        yield server
    finally:
        server.stop()
        violations = permission_violations(server.log_path)
        shutil.rmtree(data_dir, ignore_errors=True)
    # Every service ran as its own user: a subject its code uses but its grant lacks shows up here.
    assert not violations, "services were refused on the bus:\n" + "\n".join(violations)
