"""Which stack a `leadflow` command uses (pure), and the record `leadflow up` publishes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.running_stack import (
    NoStack,
    StackRecord,
    StackState,
    StartEmbedded,
    UseStack,
    choose_stack,
    is_live,
    this_process,
)

HERE = Path("/srv/acme/.leadflow")
REGISTRY = Path("/home/u/.local/state/leadflow/stacks")


def record(folder: str, state: StackState = StackState.RUNNING) -> StackRecord:
    running = state is StackState.RUNNING
    return StackRecord(
        data_dir=Path(folder),
        pid=4242,
        process_started=1.5,
        state=state,
        gateway_url="http://127.0.0.1:8000" if running else None,
        nats_url="nats://127.0.0.1:4222" if running else None,
        database_url=f"postgresql+psycopg://postgres@/postgres?host={folder}/postgres/pgdata"
        if running
        else None,
    )


LOCAL = record(str(HERE))
OTHER = record("/srv/other/.leadflow")
THIRD = record("/srv/third/.leadflow")


def choose(
    *,
    explicit: bool = False,
    exists: bool = False,
    local: StackRecord | None = None,
    elsewhere: tuple[StackRecord, ...] = (),
    embedded: bool = False,
) -> UseStack | StartEmbedded | NoStack:
    return choose_stack(
        data_dir=HERE,
        explicit=explicit,
        data_dir_exists=exists or local is not None,
        record=local,
        elsewhere=list(elsewhere),
        embedded=embedded,
        registry=REGISTRY,
    )


@pytest.mark.parametrize(
    ("situation", "expected"),
    [
        ({"local": LOCAL}, UseStack(LOCAL)),
        ({"local": LOCAL, "elsewhere": (OTHER,)}, UseStack(LOCAL)),
        ({"local": LOCAL, "embedded": True}, UseStack(LOCAL)),
        ({"local": LOCAL, "explicit": True}, UseStack(LOCAL)),
        ({"elsewhere": (OTHER,)}, UseStack(OTHER, found_elsewhere=True)),
        ({"embedded": True}, StartEmbedded(HERE)),
        ({"embedded": True, "exists": True}, StartEmbedded(HERE)),
        ({"embedded": True, "elsewhere": (OTHER,)}, StartEmbedded(HERE)),
        ({"embedded": True, "explicit": True}, StartEmbedded(HERE)),
    ],
)
def test_a_command_uses_the_stack_it_should(situation: dict[str, object], expected: object) -> None:
    assert choose(**situation) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("situation", "says"),
    [
        pytest.param(
            {}, [str(HERE), str(REGISTRY), "leadflow up", "LEADFLOW_DATA_DIR"], id="nothing anywhere"
        ),
        pytest.param(
            {"explicit": True, "elsewhere": (OTHER,)},
            [f"{HERE} (LEADFLOW_DATA_DIR)", "LEADFLOW_DATABASE_URL"],
            id="the folder given runs nothing, another does",
        ),
        pytest.param(
            {"exists": True, "elsewhere": (OTHER,)},
            [f"{HERE} holds Leadflow data, but no stack runs on it", str(OTHER.data_dir), "--embedded"],
            id="a stopped local folder is not passed over",
        ),
        pytest.param(
            {"elsewhere": (OTHER, THIRD)},
            ["Several Leadflow stacks", str(OTHER.data_dir), str(THIRD.data_dir), "LEADFLOW_DATA_DIR"],
            id="several elsewhere",
        ),
        pytest.param(
            {"local": record(str(HERE), StackState.STARTING)},
            ["still starting", str(HERE)],
            id="starting here",
        ),
        pytest.param(
            {"elsewhere": (record(str(OTHER.data_dir), StackState.STARTING),)},
            ["still starting", str(OTHER.data_dir)],
            id="starting elsewhere",
        ),
    ],
)
def test_without_a_stack_to_use_the_message_says_where_it_looked(
    situation: dict[str, object], says: list[str]
) -> None:
    choice = choose(**situation)  # type: ignore[arg-type]
    assert isinstance(choice, NoStack)
    for words in says:
        assert words in choice.message


@given(
    explicit=st.booleans(),
    exists=st.booleans(),
    elsewhere=st.lists(st.sampled_from([OTHER, THIRD]), unique=True, max_size=2).map(tuple),
)
def test_a_database_is_started_only_when_asked_for(
    explicit: bool, exists: bool, elsewhere: tuple[StackRecord, ...]
) -> None:
    choice = choose(explicit=explicit, exists=exists, elsewhere=elsewhere)
    assert not isinstance(choice, StartEmbedded)
    if isinstance(choice, UseStack):
        assert not explicit and not exists and choice.record in elsewhere


@given(
    state=st.sampled_from(StackState),
    pid=st.integers(1, 2**22),
    started=st.floats(0, 2e9, allow_nan=False).map(lambda t: round(t, 2)),
    folder=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1).map(lambda s: Path("/") / s),
)
def test_a_record_reads_back_as_written(state: StackState, pid: int, started: float, folder: Path) -> None:
    written = StackRecord(
        folder,
        pid,
        started,
        state,
        database_url="postgresql+psycopg://x" if state is StackState.RUNNING else None,
    )
    assert StackRecord.parse(written.as_json()) == written


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{}",
        '{"data_dir": "/x", "pid": 1, "process_started": 1, "state": "running"}',
        '{"pid": "x"}',
    ],
)
def test_an_incomplete_record_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        StackRecord.parse(text)


def test_a_record_is_live_only_while_its_process_runs() -> None:
    pid, started = this_process()
    assert is_live(StackRecord(HERE, pid, started, StackState.RUNNING))
    assert not is_live(StackRecord(HERE, pid, started - 60, StackState.RUNNING)), "a reused pid"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert not is_live(StackRecord(HERE, int(gone.stdout), started, StackState.RUNNING))
