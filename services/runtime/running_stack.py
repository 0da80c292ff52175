"""Where `leadflow` commands find the stack that `leadflow up` runs.

`leadflow up` publishes a record of itself in two places: `<data folder>/stack.json`, and a copy in the
user's state folder (`$XDG_STATE_HOME/leadflow/stacks/`, by default `~/.local/state/leadflow/stacks/`) named
after the data folder's path, so that a command run from any directory finds it. The record holds the
process id and its start time (a reused pid is not mistaken for the stack), the data folder and, once
the stack is ready, the URLs of its gateway, NATS and PostgreSQL. A record whose process is gone is stale:
it is ignored, and removed from the state folder.

`choose_stack` decides which stack a command uses, from what was found; it does no I/O.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

STACK_FILE = "stack.json"

POINT_AT_A_STACK = (
    "Start one with `leadflow up` (or `make run`), or point this command at one: "
    "LEADFLOW_DATA_DIR=<the data folder `leadflow up` printed>, or "
    "LEADFLOW_DATABASE_URL=postgresql+psycopg://…; with --embedded, the command starts the data folder's "
    "own PostgreSQL just for itself (creating the folder if it is new)."
)


if TYPE_CHECKING:
    from .settings import Settings


class StackState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"


@dataclass(frozen=True)
class StackRecord:
    data_dir: Path
    pid: int
    process_started: float
    state: StackState
    gateway_url: str | None = None
    nats_url: str | None = None
    database_url: str | None = None

    def as_json(self) -> str:
        return json.dumps(
            {
                "data_dir": str(self.data_dir),
                "pid": self.pid,
                "process_started": self.process_started,
                "state": self.state.value,
                "gateway_url": self.gateway_url,
                "nats_url": self.nats_url,
                "database_url": self.database_url,
            },
            indent=2,
        )

    @classmethod
    def parse(cls, text: str) -> StackRecord:
        """Raises ValueError for anything but a complete record."""
        try:
            raw = json.loads(text)
            record = cls(
                data_dir=Path(raw["data_dir"]),
                pid=int(raw["pid"]),
                process_started=float(raw["process_started"]),
                state=StackState(raw["state"]),
                gateway_url=raw.get("gateway_url"),
                nats_url=raw.get("nats_url"),
                database_url=raw.get("database_url"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a stack record: {exc!r}") from exc
        if record.state is StackState.RUNNING and not record.database_url:
            raise ValueError("a running stack's record without its database URL")
        return record


@dataclass(frozen=True)
class UseStack:
    record: StackRecord
    found_elsewhere: bool = False


@dataclass(frozen=True)
class StartEmbedded:
    data_dir: Path


@dataclass(frozen=True)
class NoStack:
    message: str


def choose_stack(
    *,
    data_dir: Path,
    explicit: bool,
    data_dir_exists: bool,
    record: StackRecord | None,
    elsewhere: list[StackRecord],
    embedded: bool,
    registry: Path,
) -> UseStack | StartEmbedded | NoStack:
    """The stack a command uses: the one running on `data_dir` (given by LEADFLOW_DATA_DIR when
    `explicit`, else the working directory's `.leadflow`), else, when that folder does not exist and
    nothing was given, the only one running anywhere (`elsewhere`, from the state folder `registry`).

    A second database is started only when asked for (`embedded`), on `data_dir`; a folder that holds
    data but no running stack is never passed over for another stack.
    """
    if record is not None:
        if record.state is StackState.STARTING:
            return NoStack(_still_starting(record))
        return UseStack(record)
    if embedded:
        return StartEmbedded(data_dir)
    if explicit:
        return NoStack(f"No Leadflow stack is running on {data_dir} (LEADFLOW_DATA_DIR). {POINT_AT_A_STACK}")
    if data_dir_exists:
        others = "".join(f"\n  {other.data_dir}" for other in elsewhere)
        hint = f" Stacks running elsewhere (LEADFLOW_DATA_DIR=<one of them>):{others}" if others else ""
        return NoStack(f"{data_dir} holds Leadflow data, but no stack runs on it.{hint} {POINT_AT_A_STACK}")
    if len(elsewhere) == 1:
        (only,) = elsewhere
        if only.state is StackState.STARTING:
            return NoStack(_still_starting(only))
        return UseStack(only, found_elsewhere=True)
    if elsewhere:
        listed = "".join(
            f"\n  {other.data_dir} ({other.gateway_url or other.state.value})" for other in elsewhere
        )
        return NoStack(
            f"Several Leadflow stacks are running; choose one with LEADFLOW_DATA_DIR=<its data folder>:{listed}"
        )
    return NoStack(
        f"No running Leadflow stack found: none on {data_dir}, and no `leadflow up` is recorded in "
        f"{registry}. {POINT_AT_A_STACK}"
    )


def _still_starting(record: StackRecord) -> str:
    return (
        f"Leadflow is still starting on {record.data_dir} (pid {record.pid}); "
        "run this again once `leadflow up` prints its banner."
    )


def registry_dir() -> Path:
    """The user's folder of running stacks (platformdirs honours XDG_STATE_HOME)."""
    import platformdirs

    return Path(platformdirs.user_state_dir("leadflow")) / "stacks"


def _registry_path(data_dir: Path) -> Path:
    return registry_dir() / f"{hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]}.json"


def process_started(pid: int) -> float | None:
    """When process `pid` started (None if there is none): with the pid, it tells one process apart."""
    import psutil

    try:
        return round(float(psutil.Process(pid).create_time()), 2)
    except (psutil.Error, OSError):
        return None


def this_process() -> tuple[int, float]:
    pid = os.getpid()
    started = process_started(pid)
    assert started is not None
    return pid, started


def is_live(record: StackRecord) -> bool:
    return process_started(record.pid) == record.process_started


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def publish(record: StackRecord) -> Path | None:
    """Write the record into its data folder and the state folder; returns the state folder's copy, or
    None when the state folder cannot be written (commands then find the stack through its data folder
    only)."""
    _write_atomically(record.data_dir / STACK_FILE, record.as_json())
    shared = _registry_path(record.data_dir)
    try:
        _write_atomically(shared, record.as_json())
    except OSError:
        return None
    return shared


def withdraw(data_dir: Path, pid: int) -> None:
    """Remove the records of the stack `pid` runs on `data_dir` (not a newer one's)."""
    for path in (data_dir / STACK_FILE, _registry_path(data_dir)):
        record = _read(path)
        if record is None or record.pid == pid:
            with contextlib.suppress(OSError):
                path.unlink()


def _read(path: Path) -> StackRecord | None:
    try:
        return StackRecord.parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_record(data_dir: Path) -> StackRecord | None:
    """The live record of the stack running on `data_dir`, if one is."""
    record = _read(data_dir / STACK_FILE)
    return record if record is not None and is_live(record) else None


def running_stacks() -> list[StackRecord]:
    """Every live stack recorded in the state folder; stale records there are removed."""
    folder = registry_dir()
    if not folder.is_dir():
        return []
    live: list[StackRecord] = []
    for path in sorted(folder.glob("*.json")):
        record = _read(path)
        if record is not None and is_live(record):
            live.append(record)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return live


def stack_for(settings: Settings, *, embedded: bool) -> UseStack | StartEmbedded | NoStack:
    """`choose_stack` for a command run with `settings`: its data folder (explicit when LEADFLOW_DATA_DIR was
    given), that folder's record, and the stacks running elsewhere when they may be used."""
    data_dir = settings.data_dir.expanduser().resolve()
    record = read_record(data_dir)
    explicit = "data_dir" in settings.model_fields_set
    return choose_stack(
        data_dir=data_dir,
        explicit=explicit,
        data_dir_exists=data_dir.exists(),
        record=record,
        elsewhere=[] if explicit or record is not None else running_stacks(),
        embedded=embedded,
        registry=registry_dir(),
    )
