"""A campaign's steps rendered for one lead, as the sequence editor shows them: pure, no I/O.

Unlike saving, a preview answers for every step even when some are wrong: a step with errors shows them
(and is not rendered), the others are rendered for the lead, with the variables it lacks.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.commands import PreviewedStep
from services.sequencer.sequence import (
    CampaignSequence,
    SequenceRefused,
    StepDraft,
    StepError,
    validate_sequence,
)
from services.sequencer.templates import LeadValues, NotSendable


def preview(drafts: Sequence[StepDraft], values: LeadValues) -> list[PreviewedStep]:
    whole = validate_sequence(drafts)
    errors = whole.errors if isinstance(whole, SequenceRefused) else ()
    overall = [_say(e) for e in errors if e.step is None]
    previews = []
    for number, draft in enumerate(drafts, start=1):
        own = [_say(e) for e in errors if e.step == number]
        if own or overall:
            previews.append(PreviewedStep(step=number, errors=own + overall))
            continue
        previews.append(_rendered(number, drafts[0], draft, values))
    return previews


def _rendered(number: int, first: StepDraft, draft: StepDraft, values: LeadValues) -> PreviewedStep:
    # A follow-up is rendered with step 1 (its subject is step 1's); step 1's own errors are shown there.
    pair = [draft] if number == 1 else [first, draft]
    checked = validate_sequence(pair)
    if not isinstance(checked, CampaignSequence):
        # Step 1 is wrong and this follow-up borrows its subject: the body alone is shown.
        return PreviewedStep(step=number, errors=["step 1 has errors: its subject cannot be shown"])
    rendered = checked.render(len(pair), values)
    if isinstance(rendered, NotSendable):
        return PreviewedStep(step=number, missing=list(rendered.missing))
    return PreviewedStep(step=number, subject=rendered.subject, body=rendered.body)


def _say(error: StepError) -> str:
    variable = f" (variable {error.variable!r})" if error.variable else ""
    return f"{error.field}: {error.message}{variable}"
