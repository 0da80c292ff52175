"""What a due lead's step comes to (pure): the rendered StepDue with its thread, StepNotSendable naming
the missing variables, LeadCompleted past a shortened sequence; and the preview of a sequence."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import Event, LeadCompleted, StepDue, StepNotSendable, parse_event
from contracts.campaign_settings import CampaignStatus
from services.sequencer.domain import Campaign
from services.sequencer.emission import Outcome, emit_for, lead_values
from services.sequencer.emission_repository import DueLead
from services.sequencer.preview import preview
from services.sequencer.sequence import CampaignSequence, StepDraft, validate_sequence
from services.sequencer.templates import LeadValues

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEPS = (
    StepDraft("Hi {{first_name}} at {{company_name|your company}}", "Hello {{custom.city}}", 0),
    StepDraft("", "Following up, {{first_name}}", 60),
)
CAMPAIGN = Campaign(uuid.uuid4(), uuid.uuid4(), "Spring", CampaignStatus.ACTIVE, NOW, steps=STEPS)
MAILBOX = uuid.uuid4()


def sequence() -> CampaignSequence:
    checked = validate_sequence(STEPS)
    assert isinstance(checked, CampaignSequence)
    return checked


def event(lead: DueLead, step_sequence: CampaignSequence | None = None) -> Event:
    emitted = emit_for(lead, CAMPAIGN, step_sequence or sequence(), NOW)
    parsed = parse_event(emitted.event.payload)
    assert (parsed.event_id, parsed.subject) == (emitted.event.event_id, emitted.event.subject)
    return parsed


def due(step: int, values: dict[str, object], message_ids: tuple[str, ...] = ()) -> DueLead:
    return DueLead(uuid.uuid4(), "a@b.cz", values, step, NOW, message_ids, MAILBOX if message_ids else None)


def test_step_one_is_rendered_with_no_thread() -> None:
    lead = due(1, {"first_name": "Jana", "custom": {"city": "Brno"}})
    step_due = event(lead)
    assert step_due == StepDue(
        event_id=step_due.event_id,
        workspace_id=CAMPAIGN.workspace_id,
        campaign_id=CAMPAIGN.id,
        lead_id=lead.lead_id,
        step=1,
        total_steps=2,
        occurred_at=NOW,
        due_at=NOW,
        email="a@b.cz",
        subject="Hi Jana at your company",
        body="Hello Brno",
    )
    assert step_due.to_bytes() == emit_for(lead, CAMPAIGN, sequence(), NOW, step_due.event_id).event.payload


def test_a_follow_up_replies_in_the_thread_from_its_mailbox() -> None:
    values: dict[str, object] = {
        "first_name": "Jana\u00a0Nováková",
        "company_name": 'Acme "€"',
        "custom": {"city": "Brno"},
    }
    step_due = event(due(2, values, ("<1@x>",)))
    assert isinstance(step_due, StepDue)
    assert step_due.subject_line == 'Re: Hi Jana\u00a0Nováková at Acme "€"'
    assert (step_due.in_reply_to, step_due.references, step_due.mailbox_id) == ("<1@x>", ["<1@x>"], MAILBOX)


@pytest.mark.parametrize(
    ("step", "values", "missing"),
    [
        (1, {"custom": {"city": "Brno"}}, ["first_name"]),
        (1, {"first_name": "  "}, ["first_name", "custom.city"]),
        (2, {}, ["first_name"]),
    ],
)
def test_a_missing_variable_is_not_sendable(step: int, values: dict[str, object], missing: list[str]) -> None:
    outcome = emit_for(due(step, values, ("<1@x>",) * (step - 1)), CAMPAIGN, sequence(), NOW)
    flagged = parse_event(outcome.event.payload)
    assert isinstance(flagged, StepNotSendable) and outcome.outcome is Outcome.NOT_SENDABLE
    assert flagged.missing == missing and list(outcome.missing) == missing


def test_past_a_shortened_sequence_the_lead_is_completed() -> None:
    completed = event(due(3, {}, ("<1@x>", "<2@x>")))
    assert isinstance(completed, LeadCompleted) and completed.total_steps == 2


def test_a_preview_renders_the_good_steps_and_names_the_wrong_ones() -> None:
    values = LeadValues({"first_name": "Jana"}, {"city": "Brno"})
    drafts = [*STEPS, StepDraft("", "{{frist_name}}", 0), StepDraft("", "Bye {{custom.x}}", 0)]
    shown = preview(drafts, values)
    assert [(s.step, s.subject, s.body) for s in shown[:2]] == [
        (1, "Hi Jana at your company", "Hello Brno"),
        (2, "Re: Hi Jana at your company", "Following up, Jana"),
    ]
    assert shown[2].errors and "frist_name" in shown[2].errors[0]
    assert shown[3].missing == ["custom.x"] and not shown[3].errors


@given(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1),
    st.text(st.characters(exclude_categories=["Cs"])),
    st.lists(st.text(st.characters(exclude_categories=["Cs"]), min_size=1), max_size=3),
)
def test_the_written_step_due_reads_back_as_the_validated_event(
    first_name: str, company: str, thread: list[str]
) -> None:
    lead = due(
        len(thread) + 1 if len(thread) < 2 else 2,
        {"first_name": first_name, "company_name": company, "custom": {"city": "x"}},
        tuple(thread[:1]),
    )
    emitted = emit_for(lead, CAMPAIGN, sequence(), NOW)
    if emitted.outcome is not Outcome.DUE:
        return  # a name of only whitespace is missing
    parsed = parse_event(emitted.event.payload)
    assert isinstance(parsed, StepDue)
    rebuilt = StepDue.model_validate_json(parsed.to_bytes())
    assert parsed == rebuilt and parsed.email == lead.email and parsed.references == list(thread[:1])
    assert parsed.body == sequence().render(lead.next_step, lead_values(lead.values)).body  # type: ignore[union-attr]
