"""A command's answer is its reply type or a Refusal, told apart by `error_code`, with the wire form the
services and the gateway have always exchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from uuid import uuid4

import pytest
from faststream._internal._compat import dump_json
from pydantic_core import to_json

import contracts.commands
from contracts import ImportState
from contracts.commands import ImportStatusReply, PreviewReply, SuppressionRemoved
from contracts.replies import Refusal, RefusalKind, Reply, read_reply


def _subclasses(cls: type[Reply]) -> list[type[Reply]]:
    found: list[type[Reply]] = []
    for direct in cls.__subclasses__():
        found += [direct, *_subclasses(direct)]
    return found


REPLY_TYPES = [t for t in _subclasses(Reply) if t.__module__.startswith("contracts.commands.")]


def test_the_reply_types_checked_are_every_reply_contracts_commands_exports() -> None:
    exported = {v for v in vars(contracts.commands).values() if isinstance(v, type) and issubclass(v, Reply)}
    assert exported and set(REPLY_TYPES) == exported


@pytest.mark.parametrize("reply_type", REPLY_TYPES, ids=lambda t: t.__name__)
def test_every_reply_type_reads_a_bare_refusal_as_a_refusal(reply_type: type[Reply]) -> None:
    """What services/runtime/command_errors.py answers for any command."""
    answer = read_reply('{"error": "The importer service failed.", "error_code": "internal"}', reply_type)
    assert answer == Refusal(message="The importer service failed.", kind=RefusalKind.INTERNAL)


@pytest.mark.parametrize("kind", list(RefusalKind), ids=str)
def test_a_refusal_in_the_former_single_type_reads_as_a_refusal(kind: RefusalKind) -> None:
    """A service from before typed replies sent every field of the reply type beside the error."""
    body: dict[str, object] = {"id": None, "campaign_id": None, "state": None, "percent": 0.0, "counts": {}}
    body |= {"error": "No such import.", "error_code": kind.value}
    assert read_reply(json.dumps(body), ImportStatusReply) == Refusal(message="No such import.", kind=kind)


def test_a_failed_import_is_a_status_not_a_refusal() -> None:
    """An import's status carries `error` (why the import failed) with no `error_code`."""
    body = {"id": str(uuid4()), "campaign_id": str(uuid4()), "state": "failed", "error": "The file is gone."}
    answer = read_reply(json.dumps(body | {"error_code": None}), ImportStatusReply)
    assert isinstance(answer, ImportStatusReply)
    assert (answer.state, answer.error) == (ImportState.FAILED, "The file is gone.")


def test_a_success_reply_with_the_former_null_error_fields_reads_as_a_success() -> None:
    assert read_reply('{"error": null, "error_code": null}', SuppressionRemoved) == SuppressionRemoved()


def test_a_reply_missing_what_it_must_carry_is_not_taken_for_either() -> None:
    with pytest.raises(ValueError, match="encoding"):
        read_reply('{"headers": []}', PreviewReply)


@pytest.mark.parametrize(
    "encode",
    [
        lambda r: r.model_dump_json(exclude_none=True),  # services/runtime/command_errors.py
        to_json,  # FastStream's encoder of a handler's return value
        dump_json,
    ],
    ids=["model_dump_json", "pydantic_core.to_json", "faststream.dump_json"],
)
def test_a_refusal_keeps_its_wire_form(encode: Callable[[Refusal], str | bytes]) -> None:
    sent = json.loads(encode(Refusal.not_found("No such import.")))
    assert sent == {"error": "No such import.", "error_code": "not_found"}
