"""`leadflow inbox …`: the inbox's commands that need no running system."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated

import typer

from services.inbox.classify import classify

inbox_app = typer.Typer(help="Inbound mail: replies, bounces, auto-replies.", no_args_is_help=True)


@inbox_app.command("classify")
def classify_files(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Raw messages (.eml); a folder stands for its .eml files, '-' for standard input.",
            show_default=False,
        ),
    ],
) -> None:
    """Print what each message is, one JSON object per file in the order given:
    {"file", "kind", "bounced_recipient", "in_reply_to", "status", "rule"}. A file that cannot be read
    gets an object with "error" (and nulls) in its place, and the command exits 1."""
    failed = False
    for path in _expanded(files):
        try:
            raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
        except OSError as exc:
            failed = True
            reason = exc.strerror or str(exc)
            typer.echo(f"leadflow inbox classify: {path}: {reason}", err=True)
            _print(
                {"file": str(path), "kind": None, "bounced_recipient": None, "in_reply_to": None}
                | {"status": None, "rule": None, "error": reason}
            )
            continue
        _print(classify(raw).as_json(str(path)))
    if failed:
        raise typer.Exit(1)


def _expanded(files: list[Path]) -> Iterator[Path]:
    for path in files:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.eml") if p.is_file())
        else:
            yield path


def _print(value: Mapping[str, object]) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
