"""`leadflow up`'s wait for a fresh stack: a worker that exits while starting is started again on a new
health port, a worker that keeps exiting fails the start, and the front's readiness comes last."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime.embedded import free_port
from services.runtime.startup import STARTS_PER_WORKER, StartingWorker, wait_until_ready
from services.runtime.supervised import ManagedProcess

# A worker that exits at once for its first `FAILURES` starts (each start appends its health port to
# `starts.txt`), then answers 200 on /startedz at LEADFLOW_HEALTH_PORT.
WORKER = textwrap.dedent(
    """
    import http.server, os, sys
    from pathlib import Path

    here = Path(sys.argv[1])
    port = int(os.environ["LEADFLOW_HEALTH_PORT"])
    starts = here / "starts.txt"
    with starts.open("a") as f:
        f.write(f"{port}\\n")
    if len(starts.read_text().split()) <= int(sys.argv[2]):
        sys.exit(3)

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == sys.argv[3] else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Ok).serve_forever()
    """
)


@pytest.fixture
def processes() -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        process.wait_stopped(time.monotonic() + 5)


def worker(folder: Path, failures: int, processes: list[ManagedProcess]) -> StartingWorker:
    folder.mkdir()
    script = folder / "worker.py"
    script.write_text(WORKER)
    argv = [sys.executable, str(script), str(folder), str(failures), "/startedz"]
    process = ManagedProcess(folder.name, argv, {}, folder / "log")
    processes.append(process)
    starting = StartingWorker(process, "127.0.0.1")
    starting.start()
    return starting


def front(folder: Path, processes: list[ManagedProcess]) -> tuple[ManagedProcess, str]:
    folder.mkdir()
    script = folder / "front.py"
    script.write_text(WORKER)
    port = free_port()
    argv = [sys.executable, str(script), str(folder), "0", "/readyz"]
    process = ManagedProcess("gateway", argv, {"LEADFLOW_HEALTH_PORT": str(port)}, folder / "log")
    processes.append(process)
    process.start()
    return process, f"http://127.0.0.1:{port}/readyz"


def ports(folder: Path) -> list[int]:
    return [int(line) for line in (folder / "starts.txt").read_text().split()]


def test_a_worker_that_exits_while_starting_is_started_again_on_a_new_health_port(
    tmp_path: Path, processes: list[ManagedProcess]
) -> None:
    steady = worker(tmp_path / "importer", 0, processes)
    flaky = worker(tmp_path / "mailer", STARTS_PER_WORKER - 1, processes)
    gateway, url = front(tmp_path / "gateway", processes)

    assert wait_until_ready([steady, flaky], url, [gateway], timeout=30)

    assert len(ports(tmp_path / "importer")) == 1
    assert flaky.starts == STARTS_PER_WORKER
    mailer_ports = ports(tmp_path / "mailer")
    assert len(mailer_ports) == STARTS_PER_WORKER
    assert flaky.health_url == f"http://127.0.0.1:{mailer_ports[-1]}/startedz"
    assert flaky.process.env["LEADFLOW_HEALTH_PORT"] == str(mailer_ports[-1])


def test_a_worker_that_keeps_exiting_fails_the_start_without_waiting_for_the_timeout(
    tmp_path: Path, processes: list[ManagedProcess]
) -> None:
    broken = worker(tmp_path / "validator", 1000, processes)
    gateway, url = front(tmp_path / "gateway", processes)

    began = time.monotonic()
    assert not wait_until_ready([broken], url, [gateway], timeout=60)

    assert time.monotonic() - began < 30
    assert broken.starts == STARTS_PER_WORKER
    assert broken.process.exited() == 3


def test_the_front_is_asked_only_once_every_worker_answers_and_its_exit_fails_the_start(
    tmp_path: Path, processes: list[ManagedProcess]
) -> None:
    silent = worker(tmp_path / "sequencer", 0, processes)
    silent.health_url = f"http://127.0.0.1:{free_port()}/startedz"  # nothing answers there
    gateway, url = front(tmp_path / "gateway", processes)
    assert wait_until_ready([], url, [gateway], timeout=30)  # the front answers…
    assert not wait_until_ready([silent], url, [gateway], timeout=2)  # …but a worker does not

    gateway.terminate()
    gateway.wait_stopped(time.monotonic() + 5)
    began = time.monotonic()
    assert not wait_until_ready([], url, [gateway], timeout=30)
    assert time.monotonic() - began < 5
