"""A sequence is refused with every reason at once; a follow-up replies in step 1's thread."""

from __future__ import annotations

import pytest

from services.sequencer.sequence import (
    MAX_BODY_BYTES,
    MAX_DELAY_MINUTES,
    MAX_STEPS,
    MAX_SUBJECT_CHARS,
    CampaignSequence,
    RenderedStep,
    SequenceRefused,
    StepDraft,
    StepError,
    validate_sequence,
)
from services.sequencer.templates import LeadValues, NotSendable

OPENER = StepDraft(
    "Quick question, {{first_name|there}}", "Hi {{first_name|there}},\nabout {{company_name}}", 0
)
FOLLOW_UP = StepDraft("", "Any thoughts, {{custom.Role}}?", 2 * 24 * 60)
LAST = StepDraft("Closing the loop", "Last one.", 3 * 24 * 60)


def refusal(drafts: list[StepDraft]) -> list[tuple[int | None, str]]:
    result = validate_sequence(drafts)
    assert isinstance(result, SequenceRefused)
    return [(error.step, error.field) for error in result.errors]


@pytest.mark.parametrize(
    ("drafts", "errors"),
    [
        pytest.param([], [(None, "steps")], id="no step"),
        pytest.param([OPENER] * (MAX_STEPS + 1), [(None, "steps")], id="too many steps"),
        pytest.param([StepDraft(" ", "b", 0)], [(1, "subject")], id="step 1 without a subject"),
        pytest.param([StepDraft("s", "  \n", 0)], [(1, "body")], id="a blank body"),
        pytest.param([StepDraft("s", "b", -1)], [(1, "delay_minutes")], id="negative delay"),
        pytest.param(
            [StepDraft("s", "b", MAX_DELAY_MINUTES + 1)], [(1, "delay_minutes")], id="delay past a year"
        ),
        pytest.param(
            [StepDraft("x" * (MAX_SUBJECT_CHARS + 1), "b", 0)], [(1, "subject")], id="subject too long"
        ),
        pytest.param(
            [StepDraft("s", "é" * (MAX_BODY_BYTES // 2 + 1), 0)], [(1, "body")], id="body over 100 kB"
        ),
        pytest.param(
            [StepDraft("Hi\r\nBcc: x@y.cz", "b", 0)], [(1, "subject")], id="line break in a subject"
        ),
        pytest.param(
            [StepDraft("{{nope}}", "{{first_name", -5), StepDraft("", "}}", 0), StepDraft("s", "", 0)],
            [(1, "subject"), (1, "body"), (1, "delay_minutes"), (2, "body"), (3, "body")],
            id="every error of every step at once",
        ),
        pytest.param(
            [StepDraft("", "", 0)] * (MAX_STEPS + 1),
            [(None, "steps"), (1, "subject")] + [(n, "body") for n in range(1, MAX_STEPS + 2)],
            id="too many steps and the steps' own errors",
        ),
    ],
)
def test_a_sequence_is_refused_with_every_reason(
    drafts: list[StepDraft], errors: list[tuple[int | None, str]]
) -> None:
    assert refusal(drafts) == errors


def test_a_template_error_names_the_variable_and_position() -> None:
    result = validate_sequence([StepDraft("s", "Dear {{frist_name}}", 0)])
    assert result == SequenceRefused(
        (
            StepError(
                1,
                "body",
                "unknown variable 'frist_name' (did you mean 'first_name'?) at position 5",
                5,
                "frist_name",
            ),
        )
    )


@pytest.mark.parametrize(
    "drafts",
    [
        pytest.param([OPENER], id="one step"),
        pytest.param([OPENER, FOLLOW_UP, LAST], id="three steps"),
        pytest.param([OPENER] * MAX_STEPS, id="the most steps"),
        pytest.param(
            [StepDraft("x" * MAX_SUBJECT_CHARS, "b" * MAX_BODY_BYTES, MAX_DELAY_MINUTES)], id="at the limits"
        ),
    ],
)
def test_a_valid_sequence_keeps_its_steps_in_order(drafts: list[StepDraft]) -> None:
    result = validate_sequence(drafts)
    assert isinstance(result, CampaignSequence)
    assert [
        (s.subject.source if s.subject else "", s.body.source, s.delay_minutes) for s in result.steps
    ] == [(d.subject, d.body, d.delay_minutes) for d in drafts]


SEQUENCE = validate_sequence([OPENER, FOLLOW_UP, LAST])
EVA = LeadValues({"first_name": "Eva", "company_name": "Acme"}, {"Role": "CTO"})


@pytest.mark.parametrize(
    ("number", "lead", "rendered"),
    [
        (1, EVA, RenderedStep("Quick question, Eva", "Hi Eva,\nabout Acme", in_thread=False)),
        (2, EVA, RenderedStep("Re: Quick question, Eva", "Any thoughts, CTO?", in_thread=True)),
        (3, EVA, RenderedStep("Closing the loop", "Last one.", in_thread=False)),
        (
            1,
            LeadValues({"company_name": "Acme"}, {}),
            RenderedStep("Quick question, there", "Hi there,\nabout Acme", False),
        ),
        (1, LeadValues({"first_name": "Eva"}, {}), NotSendable(("company_name",))),
        (
            2,
            LeadValues({"first_name": "Eva\r\nBcc: x@y.cz"}, {"Role": "CTO"}),
            RenderedStep("Re: Quick question, Eva Bcc: x@y.cz", "Any thoughts, CTO?", True),
        ),
        (2, LeadValues({}, {}), NotSendable(("custom.Role",))),
    ],
)
def test_a_step_renders_for_a_lead_and_a_follow_up_replies_in_the_thread(
    number: int, lead: LeadValues, rendered: RenderedStep | NotSendable
) -> None:
    assert isinstance(SEQUENCE, CampaignSequence)
    assert SEQUENCE.render(number, lead) == rendered


def test_a_follow_up_lacking_step_1s_subject_variables_names_them_all_once() -> None:
    sequence = validate_sequence(
        [StepDraft("{{industry}} for {{city}}", "b", 0), StepDraft("", "{{city}} {{phone}}", 0)]
    )
    assert isinstance(sequence, CampaignSequence)
    assert sequence.render(2, LeadValues({}, {})) == NotSendable(("industry", "city", "phone"))
