from __future__ import annotations

import json

import pytest
import structlog

from services.runtime.logs import configure_logging


@pytest.mark.parametrize("level", ["INFO", "debug"])
def test_json_logs_carry_bound_message_ids(capsys: pytest.CaptureFixture[str], level: str) -> None:
    structlog.reset_defaults()
    configure_logging(level, json=True)
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(event_id="e-1", lead_id="l-1", workspace_id="w-1"):
        log.info("lead projected", rows=3)
    log.info("outside")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert lines[0] | {"timestamp": None} == {
        "event": "lead projected",
        "rows": 3,
        "event_id": "e-1",
        "lead_id": "l-1",
        "workspace_id": "w-1",
        "level": "info",
        "timestamp": None,
    }
    assert "event_id" not in lines[1]
    structlog.reset_defaults()


def test_console_logs_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.reset_defaults()
    configure_logging("INFO", json=False)
    structlog.get_logger("test").warning("plain", key="v")
    err = capsys.readouterr().err
    assert "plain" in err and "key" in err and not err.lstrip().startswith("{")
    structlog.reset_defaults()
