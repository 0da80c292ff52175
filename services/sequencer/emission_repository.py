"""The emission pass's SQL: the campaign-day counter, the due leads claimed, their new states and the
outbox rows, all in the pass's one transaction per batch (bulk statements: a batch is thousands of leads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Uuid, bindparam, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.bulk import copy_insert, copy_text
from services.runtime.outbox import PreparedEvent
from services.sequencer.progress import LeadState
from services.sequencer.tables import campaign_days, leads, outbox


@dataclass(frozen=True)
class DueLead:
    lead_id: UUID
    email: str
    values: dict[str, Any]
    next_step: int
    due_at: datetime
    message_ids: tuple[str, ...]
    thread_mailbox_id: UUID | None


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
        """The campaign's scheduled leads due by `now`, earliest first, locked; rows another pass holds
        are skipped (it takes them)."""
        query = (
            select(
                leads.c.lead_id,
                leads.c.email,
                leads.c["values"],
                leads.c.next_step,
                leads.c.due_at,
                leads.c.message_ids,
                leads.c.thread_mailbox_id,
            )
            .where(
                leads.c.campaign_id == campaign_id,
                leads.c.state == LeadState.SCHEDULED.value,
                leads.c.due_at <= now,
            )
            .order_by(leads.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(query)).all()
        return [
            DueLead(
                r.lead_id,
                r.email,
                r.values or {},
                r.next_step,
                r.due_at,
                tuple(r.message_ids),
                r.thread_mailbox_id,
            )
            for r in rows
        ]

    async def mark(
        self,
        due: Sequence[UUID],
        not_sendable: Mapping[UUID, tuple[str, ...]],
        completed: Sequence[UUID],
    ) -> None:
        for state, ids in ((LeadState.DUE, due), (LeadState.COMPLETED, completed)):
            if ids:
                await self.session.execute(
                    update(leads)
                    .where(leads.c.lead_id == func.any(_ids(ids)))
                    .values(state=state.value, updated_at=func.now())
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
        """The batch's events as outbox rows, in one COPY."""
        if events:
            await copy_insert(
                self.session,
                outbox,
                ("event_id", "subject", "payload"),
                copy_text((e.event_id, e.subject, e.payload) for e in events),
            )
