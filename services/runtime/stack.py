"""`leadflow up`: the whole system on one machine, embedded servers included.

Starts (or reuses, when their URLs are set) NATS and PostgreSQL, migrates, starts each service as its own
process, restarts whatever of these dies (an embedded server on its own port and data folder; the services
reconnect to it by themselves), and stops everything on Ctrl-C: the services first, then NATS and
PostgreSQL. It publishes where it runs (`running_stack`), so that other `leadflow` commands (e.g.
`workspace create`) use its database from any directory, and refuses to start twice on one data folder.
The terminal shows the banner and errors; everything else goes to the log files in `<data folder>/logs/`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import structlog

from . import migrations, running_stack
from .bus_users import grants
from .embedded import free_port, port_is_free
from .embedded_nats import EmbeddedNats
from .embedded_pg import ClusterFromAnotherVersion, EmbeddedPostgres
from .logs import make_logs_dir
from .running_stack import NoStack, StackRecord, StackState, StartEmbedded
from .secrets import (
    SECRET_KEY_ENV,
    SECRET_KEY_FILE,
    SecretKeyError,
    load_or_create_secret_key,
    parse_secret_keys,
)
from .service_spec import ServiceSpec, Start, bus_users, migrated
from .settings import Settings
from .smtp_capture import (
    CAPTURE_FOLDER,
    DEFAULT_CAPTURE_HOST,
    DEFAULT_CAPTURE_PORT,
    CaptureAddress,
    CaptureServer,
    parse_capture_address,
)
from .startup import StartingWorker, wait_until_ready
from .supervised import ManagedNats, ManagedPostgres, ManagedProcess

log = structlog.get_logger(__name__)

DEFAULT_NATS_PORT = 4222
LOGS_DIR = "logs"
# `leadflow up`'s own log (the embedded servers' start, migrations, restarts), next to the services' logs.
UP_LOG = "up.log"


class StackNotFound(Exception):
    """A command that needs the running stack found none it may use; the message says where it looked."""


class AlreadyRunning(Exception):
    pass


class CaptureUnavailable(Exception):
    """The local SMTP capture cannot listen where LEADFLOW_CAPTURE_SMTP says; the message says why."""


@dataclass
class Endpoints:
    nats_url: str
    database_url: str
    # Where the local SMTP capture listens (None before it is started).
    capture: CaptureAddress | None = None


@dataclass
class Stack:
    settings: Settings
    # The services to run (the composition root's `SERVICES`).
    services: tuple[ServiceSpec, ...]
    nats: ManagedNats | None = None
    postgres: ManagedPostgres | None = None
    processes: list[ManagedProcess] = field(default_factory=list)
    capture: CaptureServer | None = None
    # The workers, each with the /startedz of its current start (see `startup`).
    workers: list[StartingWorker] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.expanduser().resolve()

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / LOGS_DIR

    @property
    def capture_dir(self) -> Path:
        return self.data_dir / CAPTURE_FOLDER

    def capture_address(self) -> CaptureAddress:
        """LEADFLOW_CAPTURE_SMTP when set (raises CaptureUnavailable for a malformed one), else
        127.0.0.1:1025, or a free port when another program (another stack) has that one."""
        if self.settings.capture_smtp:
            try:
                return parse_capture_address(self.settings.capture_smtp)
            except ValueError as exc:
                raise CaptureUnavailable(str(exc)) from None
        host = DEFAULT_CAPTURE_HOST
        port = DEFAULT_CAPTURE_PORT if port_is_free(DEFAULT_CAPTURE_PORT, host) else free_port(host)
        return CaptureAddress(host, port)

    def start_capture(self, address: CaptureAddress) -> CaptureAddress:
        """The local SMTP capture server, in a thread of this process: it lives and stops with the stack.
        Where it listens: `address`, or, when that was our own pick and another program took it meanwhile
        (another stack starting at the same moment), a free port."""
        tries = 1 if self.settings.capture_smtp else 3
        for attempt in range(1, tries + 1):
            try:
                server = CaptureServer(address, self.capture_dir)
                server.start()
                break
            except (OSError, RuntimeError) as exc:
                if attempt == tries:
                    raise CaptureUnavailable(
                        f"the local SMTP capture cannot listen on {address}: {exc}. Set LEADFLOW_CAPTURE_SMTP "
                        "to another host:port."
                    ) from None
                address = CaptureAddress(address.host, free_port(address.host))
        self.capture = server
        return address

    def stop_capture(self) -> None:
        if self.capture is not None:
            self.capture.stop()
            self.capture = None

    def claim_data_dir(self) -> None:
        """Record this process as the stack starting on the data folder, unless one runs there already."""
        existing = running_stack.read_record(self.data_dir)
        if existing is not None and existing.pid != os.getpid():
            where = existing.gateway_url or "still starting"
            raise AlreadyRunning(
                f"Leadflow is already running on {self.data_dir} (pid {existing.pid}, {where}). "
                "Stop it first, or start another stack with another LEADFLOW_DATA_DIR."
            )
        pid, started = running_stack.this_process()
        running_stack.publish(StackRecord(self.data_dir, pid, started, StackState.STARTING))

    def start_servers(self) -> Endpoints:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        nats_url = self.settings.nats_url
        if not nats_url:
            self.nats = ManagedNats(
                EmbeddedNats(
                    self.data_dir / "nats",
                    port=DEFAULT_NATS_PORT,
                    users=grants(bus_users(self.services)),
                    new_session=True,
                )
            )
            self.nats.start()
            nats_url = self.nats.server.url
        database_url = self.settings.database_url
        if not database_url:
            self.postgres = ManagedPostgres(EmbeddedPostgres(self.data_dir / "postgres"))
            self.postgres.start()
            database_url = self.postgres.server.url
        return Endpoints(nats_url, database_url)

    def stop_servers(self) -> None:
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def http_port(self) -> int:
        port = self.settings.http_port
        explicit = "LEADFLOW_HTTP_PORT" in os.environ
        if explicit or port_is_free(port, self.settings.http_host):
            return port
        return free_port(self.settings.http_host)

    def secret_key(self) -> str:
        """LEADFLOW_SECRET_KEY when the environment sets it, else the data folder's own secret (created
        0600 on the first start, then reused: mailbox passwords stay readable and links valid across
        restarts). Raises `SecretKeyError` for an unusable one, before anything starts."""
        if self.settings.secret_key is not None and self.settings.secret_key.get_secret_value().strip():
            value = self.settings.secret_key.get_secret_value()
            parse_secret_keys(value)
            return value
        return load_or_create_secret_key(self.data_dir / SECRET_KEY_FILE)

    def start_services(self, endpoints: Endpoints, http_port: int, secret_key: str) -> None:
        logs = self.logs_dir
        make_logs_dir(logs)
        base_env = {
            **os.environ,
            "LEADFLOW_NATS_URL": endpoints.nats_url,
            "LEADFLOW_DATABASE_URL": endpoints.database_url,
            SECRET_KEY_ENV: secret_key,
            "LEADFLOW_LOG_JSON": "true",
            # Every service knows where the gateway listens: the mailer's unsubscribe links point there
            # unless LEADFLOW_PUBLIC_URL says otherwise (the gateway's port may be a free one picked now).
            "LEADFLOW_HTTP_PORT": str(http_port),
        }
        # The workers first, then the HTTP front, whose readiness says the stack is up.
        workers = [service for service in self.services if service.start is Start.WORKER]
        fronts = [service for service in self.services if service.start is Start.HTTP]
        for service in (*workers, *fronts):
            name = service.name
            env = {**base_env, **self.nats_identity(name)}
            if service.start is Start.HTTP:
                env["LEADFLOW_HTTP_PORT"] = str(http_port)
                # The gateway lists what the local capture received (the UI's "Outbox (local)").
                env["LEADFLOW_CAPTURE_DIR"] = str(self.capture_dir)
            proc = ManagedProcess(name, [sys.executable, "-m", service.module], env, logs / f"{name}.log")
            if service.start is Start.HTTP:
                proc.start()
            else:
                worker = StartingWorker(proc, self.settings.http_host)
                worker.start()
                self.workers.append(worker)
            self.processes.append(proc)

    def nats_identity(self, service: str) -> dict[str, str]:
        """The embedded NATS user of `service` and its password (kept in the data folder, so the same after
        a restart of NATS or of the stack). With LEADFLOW_NATS_URL set, the services use the credentials
        given in LEADFLOW_NATS_USER / LEADFLOW_NATS_PASSWORD, passed on with the environment."""
        if self.nats is None:
            return {}
        return {
            "LEADFLOW_NATS_USER": service,
            "LEADFLOW_NATS_PASSWORD": self.nats.server.credentials.password(service),
        }

    def supervise_once(self) -> None:
        """Restart whatever died, the servers before the services that need them (see `supervision`).

        The services are not restarted for a server's sake: they reconnect to it by themselves.
        """
        for supervised in (self.nats, self.postgres, *self.processes):
            if supervised is not None:
                supervised.supervise(time.monotonic())

    def stop_services(self, timeout: float = 15.0) -> None:
        for proc in self.processes:
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            proc.wait_stopped(deadline)

    def publish_running(self, endpoints: Endpoints, gateway_url: str) -> None:
        pid, started = running_stack.this_process()
        record = StackRecord(
            self.data_dir,
            pid,
            started,
            StackState.RUNNING,
            gateway_url=gateway_url,
            nats_url=endpoints.nats_url,
            database_url=endpoints.database_url,
        )
        if running_stack.publish(record) is None:
            log.warning(
                "cannot record the stack in the state folder; other commands find it only with "
                "LEADFLOW_DATA_DIR",
                state_folder=str(running_stack.registry_dir()),
            )

    def withdraw(self) -> None:
        running_stack.withdraw(self.data_dir, os.getpid())


def _answers(database_url: str) -> str | None:
    """None if the database accepts a connection, else why not."""
    import psycopg

    from .embedded_pg import url_for_psycopg

    try:
        with psycopg.connect(url_for_psycopg(database_url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip() or repr(exc)
    return None


@contextlib.contextmanager
def database_url_for_cli(
    settings: Settings, *, embedded: bool = False, notify: Callable[[str], None] | None = None
) -> Iterator[str]:
    """The database a command uses: LEADFLOW_DATABASE_URL, else the running stack's (see
    `running_stack.choose_stack`), else, only with `embedded`, the data folder's own embedded PostgreSQL,
    started for the command and stopped after it. Raises StackNotFound instead of starting one by accident.
    `notify` hears which stack is used when it was found outside the data folder.
    """
    if settings.database_url:
        yield settings.database_url
        return
    choice = running_stack.stack_for(settings, embedded=embedded)
    if isinstance(choice, NoStack):
        raise StackNotFound(choice.message)
    if isinstance(choice, StartEmbedded):
        postgres = EmbeddedPostgres(choice.data_dir / "postgres")
        url = postgres.start()
        try:
            yield url
        finally:
            postgres.stop()
        return
    found = choice.record
    assert found.database_url is not None
    problem = _answers(found.database_url)
    if problem is not None:
        raise StackNotFound(
            f"The Leadflow stack on {found.data_dir} (pid {found.pid}) does not answer at its database: "
            f"{problem}"
        )
    if choice.found_elsewhere and notify is not None:
        notify(f"Using the Leadflow stack running on {found.data_dir} ({found.gateway_url}).")
    yield found.database_url


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_stack(
    settings: Settings, services: tuple[ServiceSpec, ...], announce: Callable[[str, Endpoints], None]
) -> int:
    """Run `services` until interrupted. `announce(gateway_url, endpoints)` prints the banner once all is
    ready."""
    stack = Stack(settings, services)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    claimed = False
    try:
        stack.claim_data_dir()
        claimed = True
        secret_key = stack.secret_key()
        capture = stack.capture_address()
        endpoints = stack.start_servers()
        endpoints.capture = stack.start_capture(capture)
        migrations.upgrade(endpoints.database_url, migrated(services))
        http_port = stack.http_port()
        gateway_url = f"http://{settings.http_host}:{http_port}"
        stack.start_services(endpoints, http_port, secret_key)
        # Every worker answering (its commands subscribed), then the front: a stack announced ready
        # before the sequencer listened answered a first request with "the sequencer did not answer".
        fronts = [p for p in stack.processes if all(w.process is not p for w in stack.workers)]
        if not wait_until_ready(stack.workers, f"{gateway_url}/readyz", fronts, 60):
            failed = [p for p in stack.processes if p.exited() is not None]
            names = ", ".join(f"{p.name} (log: {p.log_path})" for p in failed)
            names = names or ", ".join(s.name for s in services if s.start is Start.HTTP)
            print(f"Leadflow did not become ready: {names}", file=sys.stderr)
            return 1
        stack.publish_running(endpoints, gateway_url)
        announce(gateway_url, endpoints)
        while True:
            time.sleep(0.5)
            stack.supervise_once()
    except _Stop:
        print("\nStopping Leadflow…", file=sys.stderr)
        return 0
    except (AlreadyRunning, CaptureUnavailable, ClusterFromAnotherVersion, SecretKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception:
        log.exception("Leadflow stopped on an error")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop_services()
        stack.stop_capture()
        stack.stop_servers()
        if claimed:
            stack.withdraw()
