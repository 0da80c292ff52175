"""StepDue into the mailer's send queue: a consumer batch in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import StepDue
from services.mailer.tables import lead_stops, sends

# The StepDue of a consumer's batch queued in one statement (`SendRepository.queue`): the events as one
# JSON array, each read into a row by the field names of its JSON form. A (lead, step) named twice in one
# batch is queued once (the first). A (lead, step) already queued, under way or sent is left as it is; one
# whose send was cancelled (its sequence stopped) is queued again: a cancelled send never reached a server
# (only queued sends are cancelled), and the sequencer asks for it again only when the lead's sequence
# resumed (a person overturned the reply or bounce that stopped it).
# A StepDue no newer than the lead's stop (`lead_stops`) is not queued: the stops' durable is not ordered with
# this one, and the stop may have been handled, finding nothing to cancel, before this StepDue came. One the
# sequencer emitted after the stop (the lead resumed) is newer and is queued. The send keeps the StepDue's
# time (`requested_at`): a stop committed while this statement ran is not seen here, and the reservation
# looks again (`SendRepository.still_queued`).
_QUEUE = text(
    f"""
    INSERT INTO {sends.fullname} (id, workspace_id, campaign_id, lead_id, step, total_steps, email, subject,
        body, in_reply_to, "references", preferred_mailbox_id, state, not_before, queued_at,
        requested_at)
    SELECT DISTINCT ON (g.lead_id, g.step)
        g.event_id, g.workspace_id, g.campaign_id, g.lead_id, g.step, g.total_steps, g.email, g.subject,
        g.body, g.in_reply_to, COALESCE(g."references", '{{}}'), g.mailbox_id, 'queued',
        GREATEST(g.due_at, CAST(:now AS timestamptz)), CAST(:now AS timestamptz), g.occurred_at
    FROM json_array_elements(CAST(:events AS json)) WITH ORDINALITY AS e(doc, n)
    CROSS JOIN LATERAL json_to_record(e.doc) AS g(
        event_id uuid, workspace_id uuid, campaign_id uuid, lead_id uuid, step integer, total_steps integer,
        email text, subject text, body text, in_reply_to text, "references" text[], mailbox_id uuid,
        due_at timestamptz, occurred_at timestamptz
    )
    WHERE NOT EXISTS (
        SELECT FROM {lead_stops.fullname} AS s WHERE s.lead_id = g.lead_id AND s.stopped_at >= g.occurred_at
    )
    ORDER BY g.lead_id, g.step, e.n
    ON CONFLICT (lead_id, step) DO UPDATE SET
        state = 'queued', total_steps = EXCLUDED.total_steps, email = EXCLUDED.email,
        subject = EXCLUDED.subject, body = EXCLUDED.body, in_reply_to = EXCLUDED.in_reply_to,
        "references" = EXCLUDED."references", preferred_mailbox_id = EXCLUDED.preferred_mailbox_id,
        not_before = EXCLUDED.not_before, queued_at = EXCLUDED.queued_at,
        requested_at = EXCLUDED.requested_at, attempts = 0,
        leased_until = NULL, token = NULL, last_error = NULL
    WHERE {sends.fullname}.state = 'cancelled'
    """
)


async def queue_step_due(session: AsyncSession, due: Sequence[StepDue], now: datetime) -> None:
    """A queued send per StepDue, due at its time or now; a (lead, step) already queued (or sent) is left as
    it is, a cancelled one queued again (see `_QUEUE`). One statement over the events' own JSON, however many: executed once per row, the driver
    converted and sent every row's fifteen parameters on its own, a sixth of the mailer's time while StepDue
    arrived; given as an array per column, the driver's array conversion (per element, in Python) was
    still a fifth of it."""
    if not due:
        return
    events = "[" + ",".join(event.model_dump_json(by_alias=True) for event in due) + "]"
    await session.execute(_QUEUE, {"events": events, "now": now})
