"""A campaign's sequence: its steps validated as a whole, and a step rendered for a lead. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.sequencer.templates import (
    LeadValues,
    NotSendable,
    Template,
    TemplateError,
    parse_body,
    parse_subject,
)

MAX_STEPS = 20
# RFC 5322's line limit: a longer subject would have to be folded, and no mail client shows that much of one.
MAX_SUBJECT_CHARS = 998
# Gmail clips a message past about 102 kB behind "View entire message" (where the unsubscribe link and the
# rest are hidden), and a cold email is far shorter: the bound keeps every step whole in every inbox.
MAX_BODY_BYTES = 100_000
# A year is longer than any wait between two steps, and it keeps `now + delay` far from datetime's year 9999.
MAX_DELAY_MINUTES = 365 * 24 * 60
REPLY_PREFIX = "Re: "


@dataclass(frozen=True)
class StepDraft:
    """A step as the client sends it."""

    subject: str
    body: str
    delay_minutes: int


@dataclass(frozen=True)
class StepError:
    """One reason a sequence is refused: the step (1-based; None for the sequence as a whole), the field,
    what is wrong, and for a template the position and variable."""

    step: int | None
    field: str
    message: str
    position: int | None = None
    variable: str | None = None


@dataclass(frozen=True)
class SequenceRefused:
    errors: tuple[StepError, ...]


@dataclass(frozen=True)
class Step:
    subject: Template | None  # None: a follow-up in step 1's thread
    body: Template
    delay_minutes: int


@dataclass(frozen=True)
class RenderedStep:
    subject: str
    body: str
    in_thread: bool  # a follow-up: the mailer sets In-Reply-To/References to step 1's message


@dataclass(frozen=True)
class CampaignSequence:
    steps: tuple[Step, ...]

    def render(self, number: int, values: LeadValues) -> RenderedStep | NotSendable:
        """Step `number` (1-based) for this lead, or every variable it lacks in what the step sends. A
        follow-up's subject is "Re: " and step 1's subject rendered for the same lead."""
        step = self.steps[number - 1]
        first_subject = self.steps[0].subject
        assert first_subject is not None  # validate_sequence refuses step 1 without a subject
        subject = (step.subject or first_subject).render(values)
        body = step.body.render(values)
        if isinstance(subject, NotSendable) or isinstance(body, NotSendable):
            missing = [
                name
                for result in (subject, body)
                if isinstance(result, NotSendable)
                for name in result.missing
            ]
            return NotSendable(tuple(dict.fromkeys(missing)))
        in_thread = step.subject is None
        return RenderedStep(REPLY_PREFIX + subject if in_thread else subject, body, in_thread)


def validate_sequence(drafts: Sequence[StepDraft]) -> CampaignSequence | SequenceRefused:
    """The sequence, or every reason it is refused at once, so the client can correct them all."""
    errors: list[StepError] = []
    if not drafts:
        errors.append(StepError(None, "steps", "a sequence needs at least one step"))
    if len(drafts) > MAX_STEPS:
        errors.append(
            StepError(None, "steps", f"a sequence has at most {MAX_STEPS} steps; this has {len(drafts)}")
        )
    steps: list[Step] = []
    for number, draft in enumerate(drafts, start=1):
        subject = _subject(number, draft.subject, errors)
        body = _body(number, draft.body, errors)
        if draft.delay_minutes < 0:
            errors.append(StepError(number, "delay_minutes", "the delay cannot be negative"))
        elif draft.delay_minutes > MAX_DELAY_MINUTES:
            errors.append(
                StepError(number, "delay_minutes", f"the delay is at most {MAX_DELAY_MINUTES} minutes")
            )
        if body is not None and (subject is not None or number > 1):
            steps.append(Step(subject, body, draft.delay_minutes))
    if errors:
        return SequenceRefused(tuple(errors))
    return CampaignSequence(tuple(steps))


def _subject(number: int, text: str, errors: list[StepError]) -> Template | None:
    if not text.strip():
        if number == 1:
            errors.append(
                StepError(1, "subject", "the first step needs a subject (later ones may reply in its thread)")
            )
        return None
    if len(text) > MAX_SUBJECT_CHARS:
        errors.append(StepError(number, "subject", f"a subject has at most {MAX_SUBJECT_CHARS} characters"))
        return None
    return _parsed(number, "subject", text, errors, one_line=True)


def _body(number: int, text: str, errors: list[StepError]) -> Template | None:
    if not text.strip():
        errors.append(StepError(number, "body", "a step needs a body"))
        return None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        errors.append(StepError(number, "body", f"a body has at most {MAX_BODY_BYTES} bytes (UTF-8)"))
        return None
    return _parsed(number, "body", text, errors, one_line=False)


def _parsed(
    number: int, field: str, text: str, errors: list[StepError], *, one_line: bool
) -> Template | None:
    try:
        return parse_subject(text) if one_line else parse_body(text)
    except TemplateError as exc:
        errors.append(StepError(number, field, str(exc), exc.position, exc.variable))
        return None
