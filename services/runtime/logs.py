"""Logging: one format per destination, whoever emits the record.

Our structlog loggers, the stdlib loggers of FastStream, uvicorn, nats-py, alembic and pgserver, `warnings`
and uncaught exceptions all go through the handlers of the root logger, rendered by the same structlog
processors: JSON lines in a file or a non-terminal stderr, console text on a terminal.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

# FastStream logs every message at INFO, and its task supervisor says "callback … is being executed" each
# time a subscriber task ends: our consumers log what matters themselves.
QUIET_LOGGERS: dict[str, int] = {"faststream": logging.WARNING}


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
            structlog.processors.JSONRenderer(),
        ],
    )


def console_formatter(stream: TextIO, log_file: Path | None = None) -> structlog.stdlib.ProcessorFormatter:
    colors = stream.isatty()
    last: list[Processor] = [structlog.dev.ConsoleRenderer(colors=colors)]
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
        file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(file, encoding="utf-8")
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
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread

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

    for name in ("faststream", "faststream.access", "faststream.access.nats", "uvicorn", "uvicorn.error"):
        library = logging.getLogger(name)
        for old in library.handlers[:]:
            library.removeHandler(old)
        library.propagate = True
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, threshold))


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, traceback)
        return
    logging.getLogger("leadflow").critical("uncaught exception", exc_info=(exc_type, exc, traceback))


def _log_uncaught_in_thread(args: Any) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = getattr(args.thread, "name", "?")
    logging.getLogger("leadflow").critical(
        "uncaught exception in thread %s", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )
