"""What `leadflow up` starts and restarts when it dies: a service process or an embedded server.

`Supervised.supervise` is the loop's one step for one of them: notice that it died, log it, and start it
again once its backoff allows (the rule is `supervision.Restarts`, pure). `ManagedProcess` launches a
service as `python -m services.<name>` in its own session with its output appended to its log file;
`ManagedNats` and `ManagedPostgres` restart the embedded servers on the same port and data folder.
"""

from __future__ import annotations

import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path

import structlog

from .embedded_nats import EmbeddedNats
from .embedded_pg import EmbeddedPostgres
from .logs import open_log_file
from .supervision import Restarts

log = structlog.get_logger(__name__)


class Supervised(ABC):
    """Something `leadflow up` started and restarts when it dies (see `supervision.Restarts`)."""

    name: str
    log_path: Path

    def __init__(self) -> None:
        self.restarts = Restarts()
        self.started_at = 0.0
        self.down = False

    @abstractmethod
    def alive(self) -> bool:
        """Whether it still runs (finding out also reaps an exited child, so no zombie is left)."""

    @abstractmethod
    def launch(self) -> None:
        """Start it; raise when that fails."""

    def start(self) -> None:
        self.launch()
        self.started_at = time.monotonic()
        self.down = False

    def exit_details(self) -> dict[str, object]:
        return {}

    def supervise(self, now: float) -> None:
        """Notice that it died, and start it again once its backoff allows."""
        if not self.down:
            if self.alive():
                return
            self.down = True
            self.restarts = self.restarts.exited(ran_for=now - self.started_at, now=now)
            log.error(
                f"{self.name} exited, restarting",
                **self.exit_details(),
                restart_in=round(max(0.0, self.restarts.not_before - now), 1),
                log=str(self.log_path),
            )
        if not self.restarts.due(now):
            return
        try:
            self.start()
        except Exception as exc:
            failed_at = time.monotonic()
            self.restarts = self.restarts.start_failed(now=failed_at)
            log.error(
                f"{self.name} did not start, retrying",
                error=str(exc),
                retry_in=round(self.restarts.not_before - failed_at, 1),
                log=str(self.log_path),
            )
            return
        log.info(f"{self.name} restarted")


class ManagedProcess(Supervised):
    """A service, run as `python -m services.<name>` with its output appended to its log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        super().__init__()
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        log_file = open_log_file(self.log_path)
        # Its own session: a terminal's Ctrl-C reaches `leadflow up` only, which stops the services before
        # the servers they use (otherwise NATS would go down under services still draining).
        try:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log_file.close()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_details(self) -> dict[str, object]:
        return {"exit_code": self.exited()}

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait_stopped(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("service did not stop in time, killed", service=self.name)
            self.process.kill()
            self.process.wait()


class ManagedNats(Supervised):
    """The embedded NATS: restarted by the routine that first started it (same configuration, same JetStream
    store), on the same port, since every service reconnects to the URL it was given."""

    name = "NATS"

    def __init__(self, server: EmbeddedNats) -> None:
        super().__init__()
        self.server = server
        self.log_path = server.log_path

    def launch(self) -> None:
        self.server.start(keep_port=True)

    def alive(self) -> bool:
        return self.server.running  # polls the child, which reaps it once it exited

    def stop(self) -> None:
        self.server.stop()


class ManagedPostgres(Supervised):
    """The embedded PostgreSQL: restarted on the same data folder, hence the same socket and URL."""

    name = "PostgreSQL"

    def __init__(self, server: EmbeddedPostgres) -> None:
        super().__init__()
        self.server = server
        self.log_path = server.log_path

    def launch(self) -> None:
        self.server.start()

    def alive(self) -> bool:
        return self.server.running

    def stop(self) -> None:
        self.server.stop()
