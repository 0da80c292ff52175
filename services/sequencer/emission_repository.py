"""The emission pass's SQL: the campaign-day counter, the due leads claimed, their new states and the
outbox rows, all in the pass's one transaction per batch (bulk statements: a batch is thousands of leads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from sqlalchemy import Uuid, bindparam, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.outbox import PreparedEvent
from services.sequencer.progress import LeadState
from services.sequencer.tables import campaign_days, leads, outbox


class DueLead(NamedTuple):
    """A claimed lead (a tuple: thousands are made per batch, and a frozen dataclass's init costs thrice)."""

    lead_id: UUID
    email: str
    values: dict[str, Any]
    next_step: int
    due_at: datetime
    message_ids: tuple[str, ...]
    thread_mailbox_id: UUID | None


# Claimed and marked `due` in one statement (the few that turn out not sendable are re-marked after).
# A lead's due time is never before its hold (`not_before`: every write keeps it so); the claim checks the
# hold too, so that no way of scheduling a lead can send it early.
_CLAIM = text(
    """
    WITH picked AS (
        SELECT lead_id FROM sequencer.leads
        WHERE campaign_id = :campaign_id AND state = 'scheduled' AND due_at <= :now
            AND (not_before IS NULL OR not_before <= :now)
        ORDER BY due_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE sequencer.leads AS l SET state = 'due', updated_at = now()
    FROM picked WHERE l.lead_id = picked.lead_id
    RETURNING l.lead_id, l.email, coalesce(l."values", '{}'::jsonb), l.next_step, l.due_at, l.message_ids,
        l.thread_mailbox_id
    """
)


_COPY_OUTBOX = f"COPY {outbox.schema}.{outbox.name} (event_id, subject, payload) FROM STDIN"


def _ids(ids: Sequence[UUID]) -> Any:
    return literal(list(ids), ARRAY(Uuid))


class EmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def emitted_on(self, campaign_id: UUID, day: date) -> int:
        """StepDue emitted for the campaign on its local `day`; the counter row stays locked until the
        commit, so two passes (two replicas) never both spend the same remaining limit."""
        await self.session.execute(
            insert(campaign_days).values(campaign_id=campaign_id, day=day, emitted=0).on_conflict_do_nothing()
        )
        emitted = await self.session.scalar(
            select(campaign_days.c.emitted)
            .where(campaign_days.c.campaign_id == campaign_id, campaign_days.c.day == day)
            .with_for_update()
        )
        return int(emitted or 0)

    async def add_emitted(self, campaign_id: UUID, day: date, count: int) -> None:
        if count:
            await self.session.execute(
                update(campaign_days)
                .where(campaign_days.c.campaign_id == campaign_id, campaign_days.c.day == day)
                .values(emitted=campaign_days.c.emitted + count)
            )

    async def claim(self, campaign_id: UUID, now: datetime, limit: int) -> list[DueLead]:
        """The campaign's scheduled leads due (and not held) by `now`, earliest first, locked and marked
        `due`; rows another pass holds are skipped (it takes them). Plain SQL: psycopg's own decoding of
        thousands of rows, without SQLAlchemy's per-value result processors."""
        rows = await self.session.execute(_CLAIM, {"campaign_id": campaign_id, "now": now, "limit": limit})
        return [DueLead(r[0], r[1], r[2], r[3], r[4], tuple(r[5]), r[6]) for r in rows]

    async def mark(self, not_sendable: Mapping[UUID, tuple[str, ...]], completed: Sequence[UUID]) -> None:
        """The claimed leads that did not become `due`: completed (past a shortened sequence), or not
        sendable with the variables each lacks."""
        if completed:
            await self.session.execute(
                update(leads)
                .where(leads.c.lead_id == func.any(_ids(completed)))
                .values(state=LeadState.COMPLETED.value, updated_at=func.now())
                .execution_options(synchronize_session=False)
            )
        if not_sendable:
            # Rare (a template names a variable some leads lack): one statement per lead is fine.
            await self.session.execute(
                update(leads)
                .where(leads.c.lead_id == bindparam("b_lead_id"))
                .values(
                    state=LeadState.NOT_SENDABLE.value, missing=bindparam("b_missing"), updated_at=func.now()
                ),
                [
                    {"b_lead_id": lead_id, "b_missing": list(missing)}
                    for lead_id, missing in not_sendable.items()
                ],
                execution_options={"synchronize_session": False},
            )

    async def write_outbox(self, events: Sequence[PreparedEvent]) -> None:
        """The batch's events as outbox rows, in one COPY (its text written here: an event id and a
        subject need no escaping; a payload is JSON, so it holds no raw tab or line break and goes as bytea's
        escape form: itself, each backslash doubled for bytea and doubled again for COPY)."""
        if events:
            lines = b"".join(
                b"%s\t%s\t%s\n"
                % (str(e.event_id).encode(), e.subject.encode(), e.payload.replace(b"\\", b"\\" * 4))
                for e in events
            )
            # Straight into the outbox, not through copy_insert's staging table: the ids are new and
            # random, there is no conflict to skip.
            connection = await self.session.connection()
            raw = (await connection.get_raw_connection()).driver_connection
            assert isinstance(raw, psycopg.AsyncConnection)
            async with raw.cursor() as cur, cur.copy(_COPY_OUTBOX) as copy:
                await copy.write(lines)
