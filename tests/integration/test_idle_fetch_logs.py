"""A service's idle pull consumer logs no error: FastStream's fetch loop meeting nats-py's plain
TimeoutError (see services/runtime/logs.py) against a real NATS server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.infra


def run_probe(nats_url: str, level: str, seconds: float) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.idle_fetch_probe", nats_url, level, str(seconds)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    return [json.loads(line) for line in result.stderr.splitlines()]


def test_an_idle_fetch_timeout_is_logged_at_debug_not_as_an_error(nats_url: str) -> None:
    lines = run_probe(nats_url, "DEBUG", 20)
    idle = [line for line in lines if "TimeoutError" in str(line.get("exception", ""))]
    assert idle, "the probe's fetch loop never met the timeout:\n" + "\n".join(map(str, lines))
    assert {line["level"] for line in idle} == {"debug"}
    assert not [line for line in lines if line["level"] in ("error", "critical")]


def test_at_info_an_idle_consumer_logs_nothing(nats_url: str) -> None:
    assert run_probe(nats_url, "INFO", 20) == []
