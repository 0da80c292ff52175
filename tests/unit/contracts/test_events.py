from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from contracts import (
    EVENT_TYPES,
    MAX_BATCH,
    Event,
    ImportProgress,
    InboxMessageStored,
    LeadImported,
    LeadStatusChanged,
    ReplyDetected,
    parse_event,
)
from contracts.events import EVENT_SOURCES, LeadsRemoved

from ._factories import IMPORT, LEAD, SAMPLE_FIELDS, T0, WS, make

ALL_TYPES = sorted(EVENT_TYPES)

ENCODINGS: dict[str, Callable[[Event], Any]] = {
    "bytes": lambda e: e.to_bytes(),
    "str": lambda e: e.to_bytes().decode(),
    "python": lambda e: e.model_dump(),
    "json_mapping": lambda e: e.model_dump(mode="json"),
}


def test_samples_cover_every_event_type() -> None:
    assert set(SAMPLE_FIELDS) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_event_type_matches_class(event_type: str) -> None:
    event = make(event_type)
    assert type(event) is EVENT_TYPES[event_type]
    assert event.event_type == event_type
    assert event.schema_version == 1


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_round_trip(event_type: str, encoding: str) -> None:
    event = make(event_type)
    parsed = parse_event(ENCODINGS[encoding](event))
    assert type(parsed) is type(event)
    assert parsed == event


@pytest.mark.parametrize("event_type", [t for t in ALL_TYPES if not EVENT_TYPES[t].ephemeral])
def test_stored_event_subject(event_type: str) -> None:
    event = make(event_type)
    assert event.subject == f"leadflow.{WS}.{event_type}"
    assert not event.ephemeral


def test_import_progress_subject_stays_out_of_the_stream() -> None:
    event = make("import_progress")
    assert isinstance(event, ImportProgress)
    assert event.ephemeral
    assert event.subject == f"leadflow-progress.{IMPORT}"


def test_a_stored_inbox_message_is_announced_per_workspace_outside_the_stream() -> None:
    event = make("inbox_message_stored")
    assert isinstance(event, InboxMessageStored)
    assert event.ephemeral
    assert event.subject == f"leadflow-unibox.{WS}"
    assert InboxMessageStored.announced_on == "leadflow-unibox.{workspace_id}"
    stranger = make("inbox_message_stored", lead_id=None, campaign_id=None)
    assert parse_event(stranger.to_bytes()) == stranger


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_naive_occurred_at_rejected(event_type: str) -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        make(event_type, at=datetime(2025, 1, 1, 12, 0))


def test_naive_due_at_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        make("step_due", due_at=datetime(2025, 1, 1, 12, 0))


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("occurred_at", {"at": datetime(2025, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))}),
        ("due_at", {"due_at": datetime(2025, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))}),
    ],
)
def test_aware_datetimes_are_normalised_to_utc(field: str, kwargs: dict[str, Any]) -> None:
    value = getattr(make("step_due", **kwargs), field)
    assert value.utcoffset() == timedelta(0)
    assert value == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_defaults_envelope() -> None:
    first = LeadStatusChanged(
        workspace_id=WS, campaign_id=LEAD, lead_ids=[LEAD], status="pending", changed_by="x"
    )
    second = first.model_copy(update={"event_id": UUID(int=1)})
    assert isinstance(first.event_id, UUID)
    assert first.event_id != second.event_id
    assert first.occurred_at.tzinfo is not None
    assert abs(datetime.now(UTC) - first.occurred_at) < timedelta(minutes=1)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_extra_field_rejected(event_type: str) -> None:
    data = {**make(event_type).model_dump(mode="json"), "unexpected": 1}
    with pytest.raises(ValidationError, match="unexpected"):
        parse_event(data)
    with pytest.raises(ValidationError, match="unexpected"):
        EVENT_TYPES[event_type].model_validate(data)


def test_extra_field_in_imported_lead_rejected() -> None:
    lead = {**SAMPLE_FIELDS["lead_imported"]["leads"][0], "unexpected": "x"}
    with pytest.raises(ValidationError, match="unexpected"):
        make("lead_imported", leads=[lead])


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_events_are_frozen(event_type: str) -> None:
    event = make(event_type)
    with pytest.raises(ValidationError):
        event.workspace_id = LEAD  # type: ignore[misc]


def test_unknown_event_type_rejected() -> None:
    data = {**make("email_sent").model_dump(mode="json"), "event_type": "email_opened"}
    with pytest.raises(ValidationError):
        parse_event(data)


def test_class_rejects_a_foreign_event_type() -> None:
    data = {**make("reply_detected").model_dump(mode="json")}
    with pytest.raises(ValidationError, match="event_type"):
        EVENT_TYPES["email_sent"].model_validate(data)


def _imported_leads(n: int) -> list[dict[str, Any]]:
    return [{"lead_id": UUID(int=i + 1), "email": f"u{i}@example.com", "row": i + 1} for i in range(n)]


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (MAX_BATCH, True), (MAX_BATCH + 1, False)])
def test_lead_imported_batch_size(count: int, ok: bool) -> None:
    if ok:
        event = make("lead_imported", leads=_imported_leads(count))
        assert isinstance(event, LeadImported)
        assert len(event.leads) == count
    else:
        with pytest.raises(ValidationError):
            make("lead_imported", leads=_imported_leads(count))


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (MAX_BATCH, True), (MAX_BATCH + 1, False)])
def test_lead_status_changed_batch_size(count: int, ok: bool) -> None:
    ids = [UUID(int=i + 1) for i in range(count)]
    if ok:
        assert isinstance(make("lead_status_changed", lead_ids=ids), LeadStatusChanged)
    else:
        with pytest.raises(ValidationError):
            make("lead_status_changed", lead_ids=ids)


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (MAX_BATCH, True), (MAX_BATCH + 1, False)])
def test_leads_removed_batch_size(count: int, ok: bool) -> None:
    ids = [UUID(int=i + 1) for i in range(count)]
    if ok:
        assert isinstance(make("leads_removed", lead_ids=ids), LeadsRemoved)
    else:
        with pytest.raises(ValidationError):
            make("leads_removed", lead_ids=ids)


def test_leads_removed_is_sourced_from_the_gateway() -> None:
    assert EVENT_SOURCES["leads_removed"] == "gateway"
    assert set(EVENT_SOURCES) == set(EVENT_TYPES)


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("lead_imported", "chunk", -1),
        ("lead_imported", "leads", [{"lead_id": LEAD, "email": "a@b.c", "row": 0}]),
        ("import_progress", "percent", -0.1),
        ("import_progress", "percent", 100.1),
        ("import_progress", "rows_done", -1),
        ("import_completed", "state", "running"),
        ("step_due", "step", 0),
        ("step_due", "total_steps", 0),
        ("email_sent", "step", 0),
        ("email_bounced", "kind", "transient"),
        ("email_bounced", "source", "api"),
        ("lead_validated", "verdict", "maybe"),
        ("lead_unsubscribed", "source", "email"),
        ("lead_completed", "total_steps", 0),
        ("lead_status_changed", "status", "archived"),
    ],
)
def test_field_constraints(event_type: str, field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        make(event_type, **{field: value})


@pytest.mark.parametrize("field", ["mx", "smtp_code"])
def test_lead_validated_nullable_fields_are_required(field: str) -> None:
    data = {k: v for k, v in SAMPLE_FIELDS["lead_validated"].items() if k != field}
    with pytest.raises(ValidationError, match=field):
        EVENT_TYPES["lead_validated"].model_validate({"workspace_id": WS, "occurred_at": T0, **data})
    nulled: dict[str, Any] = {field: None}
    assert getattr(make("lead_validated", **nulled), field) is None


def test_reply_subject_is_a_wire_field_apart_from_the_nats_subject() -> None:
    event = make("reply_detected", subject="Re: pricing")
    assert isinstance(event, ReplyDetected)
    assert event.subject_line == "Re: pricing"
    assert event.subject == f"leadflow.{WS}.reply_detected"
    wire = event.model_dump(mode="json")
    assert wire["subject"] == "Re: pricing"
    assert "subject_line" not in wire
    by_name = {k: v for k, v in wire.items() if k != "subject"} | {"subject_line": "Re: pricing"}
    assert ReplyDetected.model_validate(by_name) == event
