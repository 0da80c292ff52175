"""What a due lead's step comes to (pure): the rendered StepDue with its thread, StepNotSendable naming
the missing variables, LeadCompleted past a shortened sequence; and the preview of a sequence."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from contracts import LeadCompleted, StepDue, StepNotSendable
from contracts.campaign_settings import CampaignStatus
from services.sequencer.domain import Campaign
from services.sequencer.emission import emit_for
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


def due(step: int, values: dict[str, object], message_ids: tuple[str, ...] = ()) -> DueLead:
    return DueLead(uuid.uuid4(), "a@b.cz", values, step, NOW, message_ids, MAILBOX if message_ids else None)


def test_step_one_is_rendered_with_no_thread() -> None:
    lead = due(1, {"first_name": "Jana", "custom": {"city": "Brno"}})
    event = emit_for(lead, CAMPAIGN, sequence(), NOW).event
    assert isinstance(event, StepDue)
    assert (event.subject_line, event.body) == ("Hi Jana at your company", "Hello Brno")
    assert (event.in_reply_to, event.references, event.mailbox_id) == (None, [], None)
    assert (event.step, event.total_steps, event.email, event.lead_id) == (1, 2, "a@b.cz", lead.lead_id)


def test_a_follow_up_replies_in_the_thread_from_its_mailbox() -> None:
    lead = due(2, {"first_name": "Jana", "company_name": "Acme", "custom": {"city": "Brno"}}, ("<1@x>",))
    event = emit_for(lead, CAMPAIGN, sequence(), NOW).event
    assert isinstance(event, StepDue)
    assert event.subject_line == "Re: Hi Jana at Acme"
    assert (event.in_reply_to, event.references, event.mailbox_id) == ("<1@x>", ["<1@x>"], MAILBOX)


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
    assert isinstance(outcome.event, StepNotSendable)
    assert outcome.event.missing == missing and list(outcome.missing) == missing


def test_past_a_shortened_sequence_the_lead_is_completed() -> None:
    event = emit_for(due(3, {}, ("<1@x>", "<2@x>")), CAMPAIGN, sequence(), NOW).event
    assert isinstance(event, LeadCompleted) and event.total_steps == 2


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
