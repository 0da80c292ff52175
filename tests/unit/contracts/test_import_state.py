"""The import's states: one enum for the importer's table, the reply and the completion event."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts import IMPORT_END_STATES, ImportCompleted, ImportState
from contracts.commands import ImportStatusReply

from ._factories import make


@pytest.mark.parametrize("state", sorted(IMPORT_END_STATES))
def test_an_import_completes_in_an_end_state(state: ImportState) -> None:
    event = make("import_completed", state=state.value)
    assert isinstance(event, ImportCompleted)
    assert event.state is state
    assert ImportCompleted.model_validate_json(event.to_bytes()).state is state


def test_a_running_import_is_no_completion() -> None:
    assert set(ImportState) - IMPORT_END_STATES == {ImportState.RUNNING}
    with pytest.raises(ValidationError):
        make("import_completed", state=ImportState.RUNNING.value)


@pytest.mark.parametrize("state", list(ImportState))
def test_the_status_reply_carries_every_state_as_its_value(state: ImportState) -> None:
    sent = ImportStatusReply(id=uuid4(), campaign_id=uuid4(), state=state)
    reply = ImportStatusReply.model_validate_json(sent.model_dump_json())
    assert reply.state is state
    assert sent.model_dump(mode="json")["state"] == state.value


def test_the_completion_event_schema_lists_the_end_states_only() -> None:
    schema = ImportCompleted.model_json_schema()["properties"]["state"]
    assert schema == {"enum": ["completed", "failed", "cancelled"], "title": "State", "type": "string"}
