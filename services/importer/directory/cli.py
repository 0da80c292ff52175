"""`leadflow directory load` and `sample` (without `--output`): a file or the sample into the directory, with
a progress bar and a one-line summary."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from services.importer.directory.copy_writer import DirectoryBusy, copy_rows
from services.importer.directory.csv_file import DirectoryFileError, read_directory_csv
from services.importer.directory.rows import DirectoryRow
from services.importer.directory.sample import sample_rows


def _progress_bar(console: Console, *, rows: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        MofNCompleteColumn() if rows else TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def load_file(conninfo: str, path: Path, *, replace: bool, out: IO[str]) -> int:
    """`leadflow directory load`: returns the exit status (0 all loaded, 1 some rows rejected, 2 none)."""
    console = Console(stderr=True)
    rejected = 0
    with path.open("rb") as raw, _progress_bar(console, rows=False) as bar:
        try:
            records = read_directory_csv(raw)
        except DirectoryFileError as exc:
            console.print(f"[red]{path} was not loaded:[/red] {exc}", soft_wrap=True)
            return 2
        task = bar.add_task(f"Loading {path.name}", total=path.stat().st_size)

        def good_rows() -> Iterator[DirectoryRow]:
            nonlocal rejected
            for line, row in records:
                if isinstance(row, str):
                    rejected += 1
                    bar.console.print(f"line {line}: {row}", markup=False, highlight=False, soft_wrap=True)
                else:
                    yield row

        try:
            loaded = copy_rows(
                conninfo,
                good_rows(),
                replace=replace,
                progress=lambda _n: bar.update(task, completed=raw.tell()),
            )
        except (UnicodeDecodeError, csv.Error, DirectoryBusy) as exc:
            reason = exc if not isinstance(exc, UnicodeDecodeError) else _decoding_reason(exc)
            console.print(
                f"[red]{path} was not loaded (the directory is unchanged):[/red] {reason}", soft_wrap=True
            )
            return 2
    verb = "replaced the directory with" if replace else "added"
    out.write(f"Loaded {path.name}: {verb} {_count(loaded, 'company', 'companies')}; ")
    out.write(f"{_count(rejected, 'row', 'rows')} rejected.\n")
    return 1 if rejected else 0


def _decoding_reason(exc: UnicodeDecodeError) -> str:
    return (
        f"further into the file there is a byte (0x{exc.object[exc.start : exc.start + 1].hex()}) that is "
        f"not valid {exc.encoding}; save the file as UTF-8"
    )


def load_sample(conninfo: str, rows: int, seed: int, *, replace: bool, out: IO[str]) -> None:
    """`leadflow directory sample` without `--output`: generate and COPY in one go."""
    with _progress_bar(Console(stderr=True), rows=True) as bar:
        task = bar.add_task("Generating the sample", total=rows)
        loaded = copy_rows(
            conninfo,
            sample_rows(rows, seed),
            replace=replace,
            progress=lambda n: bar.update(task, completed=n),
        )
    verb = "replaced the directory with" if replace else "added"
    out.write(f"Sample (seed {seed}): {verb} {_count(loaded, 'company', 'companies')}.\n")


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"
