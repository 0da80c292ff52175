"""The commands that need the running stack, run where none is: a clear error, never a new database."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.runtime.embedded_pg import EmbeddedPostgres, url_for_psycopg

pytestmark = pytest.mark.infra

NO_STACK_EXIT = 3


@pytest.fixture
def place() -> Iterator[Path]:
    """A working directory, a state folder of its own (no stack recorded) and room for data folders."""
    path = Path(tempfile.mkdtemp(prefix="leadflow-cli-"))
    (path / "cwd").mkdir()
    (path / "state").mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def leadflow(place: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=place / "cwd",
        env={**clean, "XDG_STATE_HOME": str(place / "state"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["workspace", "create", "Acme"],
        ["migrate"],
        ["directory", "load", "companies.csv"],
        ["directory", "sample", "--rows", "5"],
        ["bus", "status"],
    ],
)
def test_with_nothing_running_a_command_fails_and_creates_no_database(
    place: Path, command: list[str]
) -> None:
    (place / "cwd" / "companies.csv").write_text("country,name\nCZ,Firma\n")
    result = leadflow(place, *command)
    assert result.returncode == NO_STACK_EXIT, result.stderr
    assert result.stdout == ""
    message = result.stderr
    assert "No running Leadflow stack found" in message
    assert str(place / "cwd" / ".leadflow") in message, "names the folder it looked in"
    assert str(place / "state" / "leadflow" / "stacks") in message, "and where running stacks are recorded"
    assert "LEADFLOW_DATA_DIR" in message and "leadflow up" in message
    assert "Traceback" not in message
    assert sorted(p.name for p in (place / "cwd").iterdir()) == ["companies.csv"]


def test_a_data_folder_given_without_a_stack_on_it_is_named_and_left_alone(place: Path) -> None:
    folder = place / "data"
    result = leadflow(place, "workspace", "create", "Acme", LEADFLOW_DATA_DIR=str(folder))
    assert result.returncode == NO_STACK_EXIT
    assert f"No Leadflow stack is running on {folder}" in result.stderr
    assert not folder.exists()


def test_a_stale_record_of_a_stopped_stack_is_not_used(place: Path) -> None:
    folder = place / "data"
    folder.mkdir()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (folder / "stack.json").write_text(
        json.dumps(
            {
                "data_dir": str(folder),
                "pid": int(gone.stdout),
                "process_started": 1.0,
                "state": "running",
                "database_url": "postgresql+psycopg://postgres@/postgres?host=/nonexistent",
            }
        )
    )
    result = leadflow(place, "migrate", LEADFLOW_DATA_DIR=str(folder))
    assert result.returncode == NO_STACK_EXIT
    assert f"No Leadflow stack is running on {folder}" in result.stderr


def test_embedded_starts_the_data_folders_own_database_for_the_command_only(place: Path) -> None:
    folder = place / "data"
    result = leadflow(place, "workspace", "create", "Acme", "--embedded", LEADFLOW_DATA_DIR=str(folder))
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("lf_")
    assert not (folder / "postgres" / "pgdata" / "postmaster.pid").exists(), "stopped after the command"
    postgres = EmbeddedPostgres(folder / "postgres")
    try:
        with psycopg.connect(url_for_psycopg(postgres.start())) as conn:
            stored = conn.execute(
                "SELECT w.name FROM gateway.api_keys k JOIN gateway.workspaces w ON w.id = k.workspace_id "
                "WHERE k.key_hash = %s",
                (hashlib.sha256(key.encode()).hexdigest(),),
            ).fetchall()
    finally:
        postgres.stop()
    assert stored == [("Acme",)]
