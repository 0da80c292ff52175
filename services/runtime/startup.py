"""Waiting for a freshly started stack: every worker's /startedz, then the gateway's /readyz.

A worker that exits while the stack starts is started again, on a health port picked anew, up to
`STARTS_PER_WORKER` times in all. Its health port was free when picked but another program may bind it
before the worker does (an outgoing connection takes its local port from the same range), and on a loaded
machine its first JetStream request may time out: neither is a reason to refuse to start. A worker that
keeps exiting still fails the start within seconds, with its log named. Once the stack is ready the
supervisor (`supervised`) restarts whatever dies, on the port it last had.
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from .embedded import free_port
from .supervised import ManagedProcess

log = structlog.get_logger(__name__)

STARTS_PER_WORKER = 3
POLL_SECONDS = 0.2


@dataclass(eq=False)
class StartingWorker:
    """A worker process and the /startedz of its current start (200 once its broker has started, hence its
    commands subscribed)."""

    process: ManagedProcess
    host: str
    starts: int = 0
    health_url: str = ""

    def start(self) -> None:
        port = free_port(self.host)
        self.process.env["LEADFLOW_HEALTH_PORT"] = str(port)
        self.health_url = f"http://{self.host}:{port}/startedz"
        self.process.start()
        self.starts += 1


def wait_until_ready(
    workers: Sequence[StartingWorker], front_url: str, fronts: Sequence[ManagedProcess], timeout: float
) -> bool:
    """Whether every worker, then `front_url`, answered 200 within `timeout` seconds. False as soon as a
    front exits or a worker exits after its last start."""
    deadline = time.monotonic() + timeout
    answered: set[StartingWorker] = set()
    while time.monotonic() < deadline:
        if any(front.exited() is not None for front in fronts):
            return False
        for worker in workers:
            exit_code = worker.process.exited()
            if exit_code is None:
                continue
            if worker.starts >= STARTS_PER_WORKER:
                return False
            log.warning(
                f"{worker.process.name} exited while starting, starting it again",
                exit_code=exit_code,
                log=str(worker.process.log_path),
            )
            answered.discard(worker)
            worker.start()
        for worker in workers:
            if worker not in answered:
                if not _answers_ok(worker.health_url):
                    break
                answered.add(worker)
        else:
            if _answers_ok(front_url):
                return True
        time.sleep(POLL_SECONDS)
    return False


def _answers_ok(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)
    return False
