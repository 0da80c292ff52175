from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from contracts import (
    DEAD_LETTER_SUBJECTS,
    IMPORT_PROGRESS,
    STREAM_SUBJECTS,
    UNIBOX_STORED,
    command_subject,
    dead_letter_subject,
    event_subject,
    import_progress_subject,
    unibox_stored_subject,
    workspace_filter,
)

WS = UUID("00000000-0000-4000-8000-0000000000a1")


def _matches(pattern: str, subject: str) -> bool:
    """NATS wildcard semantics: ``*`` is one token, a trailing ``>`` is one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def _in(patterns: list[str], subject: str) -> bool:
    return any(_matches(p, subject) for p in patterns)


def test_event_subject_is_captured_by_stream_and_filter() -> None:
    subject = event_subject(WS, "email_sent")
    assert subject == f"leadflow.{WS}.email_sent"
    assert event_subject(str(WS), "email_sent") == subject
    assert _in(STREAM_SUBJECTS, subject)
    assert _matches(workspace_filter("email_sent"), subject)
    assert not _matches(workspace_filter("reply_detected"), subject)
    assert not _in(DEAD_LETTER_SUBJECTS, subject)


@pytest.mark.parametrize(
    "subject",
    [
        command_subject("importer", "cancel"),
        import_progress_subject(UUID(int=7)),
        unibox_stored_subject(WS),
        dead_letter_subject("sequencer"),
    ],
)
def test_non_event_subjects_stay_out_of_the_event_stream(subject: str) -> None:
    assert not _in(STREAM_SUBJECTS, subject)


def test_shapes() -> None:
    assert command_subject("importer", "cancel") == "leadflow.cmd.importer.cancel"
    assert dead_letter_subject("sequencer") == "leadflow-dlq.sequencer"
    assert _in(DEAD_LETTER_SUBJECTS, dead_letter_subject("sequencer"))
    progress = import_progress_subject(UUID(int=7))
    assert progress == f"leadflow-progress.{UUID(int=7)}"
    assert _matches(IMPORT_PROGRESS, progress)
    stored = unibox_stored_subject(WS)
    assert stored == f"leadflow-unibox.{WS}"
    assert _matches(UNIBOX_STORED, stored) and not _matches(IMPORT_PROGRESS, stored)


BUILDERS: dict[str, Callable[[str], str]] = {
    "event_subject.workspace": lambda t: event_subject(t, "email_sent"),
    "event_subject.event_type": lambda t: event_subject(WS, t),
    "workspace_filter": workspace_filter,
    "dead_letter_subject": dead_letter_subject,
    "import_progress_subject": import_progress_subject,
    "unibox_stored_subject": unibox_stored_subject,
    "command_subject.service": lambda t: command_subject(t, "x"),
    "command_subject.verb": lambda t: command_subject("x", t),
}


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@pytest.mark.parametrize("bad", ["", "a.b", "a*", ">", "a b"])
def test_invalid_tokens_rejected(bad: str, builder: str) -> None:
    with pytest.raises(ValueError, match="token"):
        BUILDERS[builder](bad)
