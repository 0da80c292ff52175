"""StepDue into the mailer's send queue: a consumer batch in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import StepDue
from services.mailer.tables import sends

# The StepDue of a consumer's batch queued in one statement (`SendRepository.queue`).
_QUEUE = text(
    f"""
    INSERT INTO {sends.fullname} (id, workspace_id, campaign_id, lead_id, step, total_steps, email, subject,
        body, in_reply_to, "references", preferred_mailbox_id, state, not_before, queued_at)
    SELECT g.id, g.workspace_id, g.campaign_id, g.lead_id, g.step, g.total_steps, g.email, g.subject, g.body,
        g.in_reply_to, CAST(g.refs AS text[]), g.preferred, 'queued', g.not_before, CAST(:now AS timestamptz)
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:workspace_ids AS uuid[]), CAST(:campaign_ids AS uuid[]),
        CAST(:lead_ids AS uuid[]), CAST(:steps AS integer[]), CAST(:total_steps AS integer[]),
        CAST(:emails AS text[]), CAST(:subjects AS text[]), CAST(:bodies AS text[]),
        CAST(:in_reply_to AS text[]), CAST(:references AS text[]), CAST(:preferred AS uuid[]),
        CAST(:not_before AS timestamptz[])
    ) AS g(id, workspace_id, campaign_id, lead_id, step, total_steps, email, subject, body, in_reply_to, refs,
           preferred, not_before)
    ON CONFLICT (lead_id, step) DO NOTHING
    """
)


def text_array_literal(values: Sequence[str]) -> str:
    """PostgreSQL's input form of a text[] (`{"a","b"}`): every element quoted, its quotes and backslashes
    escaped, so any text (commas, braces, spaces) reads back as itself."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


async def queue_step_due(session: AsyncSession, due: Sequence[StepDue], now: datetime) -> None:
    """A queued send per StepDue; a (lead, step) already queued (or sent) is left as it is. One statement
    over one array per column, however many events: executed once per row, the driver converted and
    sent every row's fifteen parameters on its own, a sixth of the mailer's time while StepDue arrived.
    """
    if not due:
        return
    await session.execute(
        _QUEUE,
        {
            "ids": [event.event_id for event in due],
            "workspace_ids": [event.workspace_id for event in due],
            "campaign_ids": [event.campaign_id for event in due],
            "lead_ids": [event.lead_id for event in due],
            "steps": [event.step for event in due],
            "total_steps": [event.total_steps for event in due],
            "emails": [event.email for event in due],
            "subjects": [event.subject_line for event in due],
            "bodies": [event.body for event in due],
            "in_reply_to": [event.in_reply_to for event in due],
            # A text[] per row, given as its array literal (arrays of arrays must be rectangular).
            "references": [text_array_literal(event.references) for event in due],
            "preferred": [event.mailbox_id for event in due],
            "not_before": [max(event.due_at, now) for event in due],
            "now": now,
        },
    )
