"""A lead's stop remembered (`mailer.lead_stops`), so that no send the sequencer asked for before it goes out.

The stop consumer cancels the lead's queued sends, but StepDue come on a durable of their own, in no order
with the stops: a StepDue handled after the stop found nothing to cancel, and was sent to a lead who had
already replied. So each stop is kept with its event's time (the latest of a lead's stops), and a send is
compared with it by the time of the StepDue that asked for it (`sends.requested_at`), twice:

- when it is queued (`send_queue._QUEUE`): a StepDue no newer than the stop is not queued;
- when it is reserved, right before it is handed to a server (`queued_unless_stopped`, in the statement
  that finds the claimed sends still queued): one the queueing let through — its StepDue and the stop were
  handled at the same time, neither seeing the other's uncommitted rows — is cancelled there, silently,
  as `SendRepository.cancel` would have.

A StepDue newer than the stop was emitted after it: the sequencer resumed the lead (a person overturned the
reply or bounce), and it is sent as any other. A send is never stopped once reserved (it may be in DATA).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import ARRAY, DateTime, Uuid, any_, bindparam, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.mailer.tables import lead_stops, sends

# A send whose lead stopped at or after the StepDue that asked for it (a send queued before mailer_0004
# has no `requested_at`: it was asked for before it was queued).
_STOPPED = exists().where(
    lead_stops.c.lead_id == sends.c.lead_id,
    lead_stops.c.stopped_at >= func.coalesce(sends.c.requested_at, sends.c.queued_at),
)
_HELD = bindparam("held", type_=ARRAY(Uuid))
_CANCELLED = (
    update(sends)
    .where(sends.c.id == any_(_HELD), sends.c.state == "queued", _STOPPED)
    .values(state="cancelled", leased_until=None, token=None)
    .returning(sends.c.id)
    .cte("cancelled")
)
# The reservation's look at its claimed sends (still queued?), which now also cancels those whose lead
# stopped: still one statement, no round trip more per batch. Its SELECT sees the rows as they were before
# the UPDATE in its WITH, so the sends that UPDATE cancelled are left out by their ids.
_QUEUED_UNLESS_STOPPED = select(sends.c.id).where(
    sends.c.id == any_(_HELD),
    sends.c.state == "queued",
    sends.c.id.not_in(select(_CANCELLED.c.id)),
)


async def record_stops(
    session: AsyncSession, campaign_id: UUID, lead_ids: Collection[UUID], at: datetime
) -> None:
    """Each lead's stop at `at`, unless one as late or later is kept (a redelivered or older stop changes
    nothing). One statement for the whole batch (a LeadStatusChanged names up to 1,000 leads), the leads in
    id order: two batches that share leads lock their rows in the same order."""
    ordered = sorted(set(lead_ids))
    if not ordered:
        return
    given = select(
        func.unnest(literal(ordered, ARRAY(Uuid))),
        literal(campaign_id, Uuid),
        literal(at, DateTime(timezone=True)),
    )
    statement = insert(lead_stops).from_select(["lead_id", "campaign_id", "stopped_at"], given)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[lead_stops.c.lead_id],
            set_={"stopped_at": statement.excluded.stopped_at},
            where=lead_stops.c.stopped_at < statement.excluded.stopped_at,
        )
    )


async def queued_unless_stopped(session: AsyncSession, held: Sequence[UUID]) -> set[UUID]:
    """Those of `held` (claimed sends, locked by this transaction) still queued and whose lead has not
    stopped since their StepDue; those whose lead has are cancelled by the same statement."""
    if not held:
        return set()
    return set(await session.scalars(_QUEUED_UNLESS_STOPPED, {"held": list(held)}))
