"""NATS subject and stream names shared by every service."""

from __future__ import annotations

import re
from typing import Final
from uuid import UUID

STREAM: Final = "LEADFLOW"
STREAM_SUBJECTS: Final = ["leadflow.*.*"]
DUPLICATE_WINDOW_SECONDS: Final = 900

DEAD_LETTER_STREAM: Final = "LEADFLOW_DLQ"
DEAD_LETTER_SUBJECTS: Final = ["leadflow-dlq.>"]

# Progress goes over core NATS: its first token differs from the stream's, so it is never stored.
IMPORT_PROGRESS: Final = "leadflow-progress.*"
# So do the inbox's announcements of a stored message (the Unibox's live list), one subject per workspace.
UNIBOX_STORED: Final = "leadflow-unibox.*"

# A token with ".", "*", ">" or whitespace would change how many tokens a subject has or what it matches.
_TOKEN = re.compile(r"[^.*>\s]+")


def _token(value: UUID | str) -> str:
    text = str(value)
    if not _TOKEN.fullmatch(text):
        raise ValueError(f"invalid NATS subject token: {text!r}")
    return text


def event_subject(workspace_id: UUID | str, event_type: str) -> str:
    return f"leadflow.{_token(workspace_id)}.{_token(event_type)}"


def workspace_filter(event_type: str) -> str:
    """Consumer filter matching one event type across all workspaces."""
    return f"leadflow.*.{_token(event_type)}"


def dead_letter_subject(durable: str) -> str:
    return f"leadflow-dlq.{_token(durable)}"


def import_progress_subject(import_id: UUID | str) -> str:
    return f"leadflow-progress.{_token(import_id)}"


def unibox_stored_subject(workspace_id: UUID | str) -> str:
    return f"leadflow-unibox.{_token(workspace_id)}"


def inbox_prefix(user: str) -> str:
    """The reply subjects of a NATS user's requests (nats-py's `inbox_prefix`): `_INBOX.<user>.…`, the only
    inbox that user may subscribe to."""
    return f"_INBOX.{_token(user)}"


def command_filter(service: str) -> str:
    """Every command of one service (its subscription, and what may request it)."""
    return f"leadflow.cmd.{_token(service)}.*"


def command_subject(service: str, verb: str) -> str:
    """Request/reply subject; four tokens, so ``leadflow.*.*`` never captures it."""
    return f"leadflow.cmd.{_token(service)}.{_token(verb)}"
