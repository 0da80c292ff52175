from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.client
import pytest
import structlog

from services.runtime.logs import IdleFetchTimeoutFilter, configure_logging, is_idle_fetch_timeout

SUPERVISOR_RETRY = "Task-7 raised an exception, retrying...\nIf this behavior causes issues, …"


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    excepthook, thread_hook = sys.excepthook, threading.excepthook
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    sys.excepthook, threading.excepthook = excepthook, thread_hook
    logging.captureWarnings(False)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("level", ["INFO", "debug"])
def test_json_logs_carry_bound_message_ids(capsys: pytest.CaptureFixture[str], level: str) -> None:
    configure_logging(level, json=True)
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(event_id="e-1", lead_id="l-1", workspace_id="w-1"):
        log.info("lead projected", rows=3)
    log.info("outside")
    lines = [line for line in json_lines(capsys.readouterr().err) if line["logger"] == "test"]
    assert lines[0] | {"timestamp": None} == {
        "event": "lead projected",
        "rows": 3,
        "event_id": "e-1",
        "lead_id": "l-1",
        "workspace_id": "w-1",
        "level": "info",
        "logger": "test",
        "timestamp": None,
    }
    assert "event_id" not in lines[1]


def test_console_logs_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=False)
    structlog.get_logger("test").warning("plain", key="v")
    err = capsys.readouterr().err
    assert "plain" in err and "key" in err and not err.lstrip().startswith("{")


def test_every_emitter_writes_the_same_json_lines(capfd: pytest.CaptureFixture[str]) -> None:
    """Libraries' stdlib loggers (FastStream's with its own coloured handler, uvicorn's), warnings and
    uncaught exceptions come out as JSON lines like our own records, with the bound ids."""
    configure_logging("INFO", json=True)
    with structlog.contextvars.bound_contextvars(event_id="e-2"):
        logging.getLogger("faststream").warning("Connection broken")
        logging.getLogger("faststream.nats").error("handler %s failed", "on_x")
    logging.getLogger("uvicorn.error").error("Application shutdown failed")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    try:
        raise RuntimeError("crashed")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    captured = capfd.readouterr()
    assert captured.out == ""
    lines = json_lines(captured.err)
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("faststream", "warning"),
        ("faststream.nats", "error"),
        ("uvicorn.error", "error"),
        ("alembic.runtime.migration", "info"),
        ("py.warnings", "warning"),
        ("leadflow", "critical"),
    ]
    assert lines[0]["event_id"] == "e-2" and lines[1]["event"] == "handler on_x failed"
    assert "RuntimeError: crashed" in lines[-1]["exception"]
    assert "\x1b[" not in captured.err


def test_faststream_info_chatter_is_not_logged(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    logging.getLogger("faststream.nats").info("callback for Task-21 is being executed...")
    assert capfd.readouterr().err == ""


def test_with_a_file_the_terminal_gets_only_errors_in_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "logs" / "up.log"
    configure_logging("INFO", file=log_file)
    log = structlog.get_logger("up")
    log.info("embedded NATS listening")
    logging.getLogger("pgserver").info("initdb output\nline two")
    try:
        raise OSError("disk full")
    except OSError:
        log.exception("service exited, restarting", service="importer")
    captured = capfd.readouterr()
    assert captured.out == ""
    terminal = captured.err.strip().splitlines()
    assert len(terminal) == 1, captured.err
    assert "service exited, restarting" in terminal[0] and "disk full" in terminal[0]
    assert str(log_file) in terminal[0]
    in_file = json_lines(log_file.read_text())
    assert [line["event"] for line in in_file] == [
        "embedded NATS listening",
        "initdb output\nline two",
        "service exited, restarting",
    ]
    assert "OSError: disk full" in in_file[-1]["exception"]


def raised_in(filename: str, exc: BaseException) -> BaseException:
    """`exc` with a traceback whose innermost frame runs in `filename` (as if that module raised it)."""
    namespace: dict[str, Any] = {"exc": exc}
    try:
        exec(compile("raise exc", filename, "exec"), namespace)
    except BaseException as raised:
        return raised
    raise AssertionError("unreachable")


def supervisor_record(
    exc: BaseException, *, name: str = "faststream.nats", msg: str = SUPERVISOR_RETRY
) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, (type(exc), exc, exc.__traceback__))


NATS_JS = nats.js.client.__file__
ORPHANED_FETCH = (
    "Task exception was never retrieved\nfuture: <Task finished name='Task-2135' "
    "coro=<PullStreamSubscriber._consume_pull() done> exception=TimeoutError()>"
)


@pytest.mark.parametrize(
    ("record", "idle"),
    [
        pytest.param(
            supervisor_record(raised_in(NATS_JS, TimeoutError())), True, id="nats-py fetch deadline"
        ),
        pytest.param(
            supervisor_record(raised_in(__file__, TimeoutError())), False, id="a timeout raised elsewhere"
        ),
        pytest.param(
            supervisor_record(raised_in(NATS_JS, nats.errors.TimeoutError())),
            False,
            id="nats' own TimeoutError (FastStream suppresses it; anything else is news)",
        ),
        pytest.param(
            supervisor_record(raised_in(NATS_JS, ConnectionResetError())), False, id="another exception"
        ),
        pytest.param(
            supervisor_record(
                raised_in(NATS_JS, TimeoutError()), msg="Task-7 raised an exception and won't be restarted."
            ),
            False,
            id="not restarted",
        ),
        pytest.param(
            supervisor_record(raised_in(NATS_JS, TimeoutError()), name="services.validator"),
            False,
            id="not FastStream's supervisor",
        ),
        pytest.param(
            logging.LogRecord("faststream.nats", logging.ERROR, __file__, 1, SUPERVISOR_RETRY, None, None),
            False,
            id="no exception",
        ),
        pytest.param(
            supervisor_record(raised_in(NATS_JS, TimeoutError()), name="asyncio", msg=ORPHANED_FETCH),
            True,
            id="the loop's task collected after its subscriber stopped",
        ),
        pytest.param(
            supervisor_record(
                raised_in(NATS_JS, TimeoutError()),
                name="asyncio",
                msg="Task exception was never retrieved\nfuture: <Task finished coro=<other_task()>>",
            ),
            False,
            id="another task's exception never retrieved",
        ),
        pytest.param(
            supervisor_record(raised_in(__file__, TimeoutError()), name="asyncio", msg=ORPHANED_FETCH),
            False,
            id="a never retrieved timeout raised elsewhere",
        ),
    ],
)
def test_only_the_idle_fetch_timeout_is_recognised(record: logging.LogRecord, idle: bool) -> None:
    assert is_idle_fetch_timeout(record) is idle


@pytest.mark.parametrize(("threshold", "kept"), [(logging.DEBUG, True), (logging.INFO, False)])
def test_the_idle_fetch_timeout_is_demoted_to_debug(threshold: int, kept: bool) -> None:
    record = supervisor_record(raised_in(NATS_JS, TimeoutError()))
    assert IdleFetchTimeoutFilter(threshold).filter(record) is kept
    assert (record.levelno, record.levelname) == (logging.DEBUG, "DEBUG")


def test_other_errors_pass_the_filter_unchanged() -> None:
    record = supervisor_record(raised_in(NATS_JS, ConnectionResetError()))
    assert IdleFetchTimeoutFilter(logging.INFO).filter(record)
    assert (record.levelno, record.levelname) == (logging.ERROR, "ERROR")
