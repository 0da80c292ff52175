"""Which reply a failed command gets (services/runtime/command_errors.py), and which messages are commands."""

from __future__ import annotations

from typing import Any

import pytest
from nats import errors as nats_errors
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from contracts import subjects
from contracts.replies import Refusal
from services.runtime.command_errors import COMMAND_PREFIX, error_reply, is_command


def _validation_error() -> ValidationError:
    try:
        Refusal.model_validate({"error": 5})
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a ValidationError")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (
            OperationalError("SELECT 1", {"email": "secret@firma.cz"}, Exception("server closed")),
            "unavailable",
        ),
        (nats_errors.NoServersError(), "unavailable"),
        (nats_errors.TimeoutError(), "unavailable"),
        (TimeoutError(), "unavailable"),
        (ConnectionRefusedError(), "unavailable"),
        (DataError("SELECT 1/0", {"email": "secret@firma.cz"}, Exception("division by zero")), "internal"),
        (IntegrityError("INSERT", {"email": "secret@firma.cz"}, Exception("duplicate key")), "internal"),
        (NotFoundError(), "internal"),  # an object the service should have had: its failure
        (RuntimeError("secret@firma.cz"), "internal"),
        # A ValidationError the handler itself ran into (a reply or a row it built) is not the sender's.
        (_validation_error(), "internal"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v,
)
def test_a_failure_is_answered_by_kind_and_never_with_its_details(exc: Exception, code: str) -> None:
    reply = error_reply("importer", exc)
    assert reply.kind == code
    assert reply.message.startswith("The importer service ")
    assert "secret" not in reply.message and "SELECT" not in reply.message and "INSERT" not in reply.message


def _msg(subject: str, reply: str) -> Msg:
    client: Any = None
    return Msg(client, subject=subject, reply=reply)


@pytest.mark.parametrize(
    ("msg", "answered"),
    [
        (_msg(subjects.command_subject("importer", "add_suppression"), "_INBOX.abc.1"), True),
        (_msg(subjects.command_subject("importer", "add_suppression"), ""), False),  # nobody waits
        (_msg("leadflow.4f1c.lead_imported", "$JS.ACK.LEADFLOW.x.1.2.3.4.5"), False),  # an event
        (_msg(subjects.command_subject("importer", "add_suppression"), "$JS.ACK.LEADFLOW.x.1"), False),
        (_msg("leadflow-progress.4f1c", "_INBOX.abc.2"), False),
    ],
)
def test_only_requests_on_command_subjects_are_answered(msg: Msg, answered: bool) -> None:
    assert is_command(msg) is answered


def test_every_command_subject_has_the_prefix() -> None:
    assert subjects.command_subject("sequencer", "create_campaign").startswith(COMMAND_PREFIX)
    assert not subjects.event_subject("4f1c", "lead_imported").startswith(COMMAND_PREFIX)
