"""Persistence of the leads' progress (`sequencer.leads`), the mailboxes' health and the step counts.

Lead rows are locked in lead id order (`lock`): two transactions touching the same leads wait for each
other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Text, Uuid, bindparam, delete, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from contracts import Verdict
from contracts.commands import StepCount
from services.sequencer.progress import (
    FINAL,
    OVERTURNABLE,
    STOP_COMPANY_REPLIED,
    STOP_FAILED,
    STOP_INVALID,
    LeadState,
    Progress,
)
from services.sequencer.tables import EMAIL_DOMAIN, leads, mailbox_health

Values = dict[str, Any]


@dataclass(frozen=True)
class LeadRow:
    lead_id: UUID
    campaign_id: UUID
    workspace_id: UUID
    email: str
    values: Values | None
    progress: Progress


@dataclass(frozen=True)
class NewLead:
    lead_id: UUID
    campaign_id: UUID
    workspace_id: UUID
    email: str


def _ids(ids: Iterable[UUID]) -> Any:
    return literal(sorted(set(ids)), ARRAY(Uuid))


def _held(due: ColumnElement[datetime]) -> ColumnElement[datetime]:
    """`due`, or the lead's hold when that is later, as the moves in `progress` have it (greatest()
    passes over a null hold)."""
    return func.greatest(due, leads.c.not_before)


def progress_of(row: Any) -> Progress:
    return Progress(
        imported=row.values is not None,
        verdict=None if row.verdict is None else Verdict(row.verdict),
        verdict_run=row.verdict_run,
        state=LeadState(row.state),
        next_step=row.next_step,
        due_at=row.due_at,
        sendable_at=row.sendable_at,
        message_ids=tuple(row.message_ids),
        thread_mailbox_id=row.thread_mailbox_id,
        stop_reason=row.stop_reason,
        missing=tuple(row.missing),
        not_before=row.not_before,
        last_sent_at=row.last_sent_at,
        stopped_from=None if row.stopped_from is None else LeadState(row.stopped_from),
    )


def progress_columns(progress: Progress) -> dict[str, Any]:
    return {
        "verdict": None if progress.verdict is None else progress.verdict.value,
        "verdict_run": progress.verdict_run,
        "state": progress.state.value,
        "next_step": progress.next_step,
        "due_at": progress.due_at,
        "sendable_at": progress.sendable_at,
        "message_ids": list(progress.message_ids),
        "thread_mailbox_id": progress.thread_mailbox_id,
        "stop_reason": progress.stop_reason,
        "missing": list(progress.missing),
        "not_before": progress.not_before,
        "last_sent_at": progress.last_sent_at,
        "stopped_from": None if progress.stopped_from is None else progress.stopped_from.value,
    }


_PROGRESS = (
    "verdict",
    "verdict_run",
    "state",
    "next_step",
    "due_at",
    "sendable_at",
    "message_ids",
    "thread_mailbox_id",
    "stop_reason",
    "missing",
    "not_before",
    "last_sent_at",
    "stopped_from",
)

_SAVE = (
    update(leads)
    .where(leads.c.lead_id == bindparam("b_lead_id"))
    .values(
        {name: bindparam(f"b_{name}") for name in _PROGRESS}
        | {"values": func.coalesce(bindparam("b_values", type_=JSONB(none_as_null=True)), leads.c["values"])}
        | {"updated_at": func.now()}
    )
)


class LeadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> LeadRepository:
        return cls(session)

    async def ensure(self, new: Sequence[NewLead]) -> None:
        """A row for each lead not stored yet (waiting, nothing known): the caller then locks and
        updates them all the same way, whichever event came first."""
        if not new:
            return
        await self.session.execute(
            insert(leads).on_conflict_do_nothing(index_elements=["lead_id"]),
            [
                {
                    "lead_id": n.lead_id,
                    "campaign_id": n.campaign_id,
                    "workspace_id": n.workspace_id,
                    "email": n.email,
                }
                for n in new
            ],
        )

    async def lock(self, campaign_id: UUID, lead_ids: Iterable[UUID]) -> dict[UUID, LeadRow]:
        """The campaign's stored leads among `lead_ids`, locked until the commit (in id order)."""
        query = (
            select(leads)
            .where(leads.c.lead_id == func.any(_ids(lead_ids)), leads.c.campaign_id == campaign_id)
            .order_by(leads.c.lead_id)
            .with_for_update()
        )
        rows = (await self.session.execute(query)).all()
        return {
            row.lead_id: LeadRow(
                row.lead_id, row.campaign_id, row.workspace_id, row.email, row.values, progress_of(row)
            )
            for row in rows
        }

    async def get(self, campaign_id: UUID, lead_id: UUID) -> LeadRow | None:
        row = (
            await self.session.execute(
                select(leads).where(leads.c.lead_id == lead_id, leads.c.campaign_id == campaign_id)
            )
        ).first()
        if row is None:
            return None
        return LeadRow(
            row.lead_id, row.campaign_id, row.workspace_id, row.email, row.values, progress_of(row)
        )

    async def save(self, changed: Mapping[UUID, tuple[Progress, Values | None]]) -> None:
        """Write each lead's progress (and its imported values, when given)."""
        if not changed:
            return
        await self.session.execute(
            _SAVE,
            [
                {"b_lead_id": lead_id, "b_values": values}
                | {f"b_{k}": v for k, v in progress_columns(progress).items()}
                for lead_id, (progress, values) in changed.items()
            ],
            execution_options={"synchronize_session": False},
        )

    async def stop_company(self, campaign_id: UUID, replied_lead_id: UUID, domain: str) -> list[UUID]:
        """Every other lead of the campaign at `domain` stopped for its company's reply, set-based, as
        `progress.stopped(p, STOP_COMPANY_REPLIED)` moves each (a stop that may be withdrawn gives way to
        it). The company's leads, the replier among them, are locked in id order first (as `lock` does), so
        two replies from one company at once wait for each other instead of deadlocking. Answers the leads
        whose progress changed."""
        gives_way = sorted({STOP_INVALID, *OVERTURNABLE})
        final = [state.value for state in FINAL]
        rows = await self.session.execute(
            text(
                f"""
                WITH company AS (
                    SELECT lead_id FROM {leads.fullname}
                    WHERE campaign_id = :campaign_id AND {EMAIL_DOMAIN} = :domain
                    ORDER BY lead_id
                    FOR UPDATE
                )
                UPDATE {leads.fullname} AS l SET
                    stopped_from = CASE WHEN l.state = :stopped THEN l.stopped_from ELSE l.state END,
                    state = :stopped, stop_reason = :reason, due_at = NULL, updated_at = now()
                FROM company
                WHERE l.lead_id = company.lead_id AND l.lead_id <> :replied_lead_id
                    AND (l.state <> ALL(:final)
                        OR (l.state = :stopped AND l.stop_reason = ANY(:gives_way)))
                RETURNING l.lead_id
                """
            ).bindparams(bindparam("final", type_=ARRAY(Text)), bindparam("gives_way", type_=ARRAY(Text))),
            {
                "campaign_id": campaign_id,
                "domain": domain,
                "replied_lead_id": replied_lead_id,
                "stopped": LeadState.STOPPED.value,
                "reason": STOP_COMPANY_REPLIED,
                "final": final,
                "gives_way": gives_way,
            },
        )
        return sorted(row.lead_id for row in rows)

    async def forget(self, campaign_id: UUID, lead_ids: Iterable[UUID]) -> None:
        await self.session.execute(
            delete(leads).where(
                leads.c.lead_id == func.any(_ids(lead_ids)), leads.c.campaign_id == campaign_id
            )
        )

    async def schedule_waiting(
        self, campaign_id: UUID, now: datetime, first_delay: int
    ) -> list[tuple[UUID, datetime]]:
        """At activation: every sendable waiting lead gets step 1, due `first_delay` minutes after the later
        of becoming sendable and now, or at its hold if later (`progress.settle`, set-based)."""
        rows = await self.session.execute(
            update(leads)
            .where(
                leads.c.campaign_id == campaign_id,
                leads.c.state == LeadState.WAITING.value,
                leads.c.sendable_at.is_not(None),
            )
            .values(
                state=LeadState.SCHEDULED.value,
                next_step=1,
                due_at=_held(
                    func.greatest(leads.c.sendable_at, now) + text(f"interval '{int(first_delay)} minutes'")
                ),
                updated_at=func.now(),
            )
            .returning(leads.c.lead_id, leads.c.due_at)
        )
        return [(row.lead_id, row.due_at) for row in rows]

    async def release_waiting(
        self, campaign_id: UUID, now: datetime, *, pending: bool, unknown: bool, first_due: datetime | None
    ) -> list[tuple[UUID, datetime | None]]:
        """Imported waiting leads not verified yet (`pending`) or verified unknown (`unknown`) become
        sendable now, and scheduled at `first_due` (or their hold, if later) when the campaign was activated
        (`progress.settle`, set-based)."""
        allowed: list[ColumnElement[bool]] = []
        if pending:
            allowed.append(leads.c.verdict.is_(None))
        if unknown:
            allowed.append(leads.c.verdict == Verdict.UNKNOWN.value)
        rows = await self.session.execute(
            update(leads)
            .where(
                leads.c.campaign_id == campaign_id,
                leads.c.state == LeadState.WAITING.value,
                leads.c["values"].is_not(None),
                leads.c.sendable_at.is_(None),
                or_(*allowed),
            )
            .values(
                sendable_at=now,
                state=(LeadState.WAITING if first_due is None else LeadState.SCHEDULED).value,
                next_step=1,
                due_at=None if first_due is None else _held(literal(first_due, DateTime(timezone=True))),
                updated_at=func.now(),
            )
            .returning(leads.c.lead_id, leads.c.due_at)
        )
        return [(row.lead_id, row.due_at) for row in rows]

    async def reconsider(self, campaign_id: UUID, now: datetime) -> list[tuple[UUID, int, datetime]]:
        """After the sequence changed: the not-sendable leads' steps are tried again at once, or when their
        hold ends (`progress.reconsidered`, set-based)."""
        rows = await self.session.execute(
            update(leads)
            .where(leads.c.campaign_id == campaign_id, leads.c.state == LeadState.NOT_SENDABLE.value)
            .values(
                state=LeadState.SCHEDULED.value,
                due_at=_held(func.least(func.coalesce(leads.c.due_at, now), now)),
                missing=literal([], ARRAY(Text)),
                updated_at=func.now(),
            )
            .returning(leads.c.lead_id, leads.c.next_step, leads.c.due_at)
        )
        return [(row.lead_id, row.next_step, row.due_at) for row in rows]

    async def all_finished(self, campaign_id: UUID) -> bool:
        """Whether the campaign has leads and every one has finished: completed or stopped. (A lead
        waiting, scheduled, due, not sendable or uncertain has not.)"""
        of_campaign = select(leads.c.lead_id).where(leads.c.campaign_id == campaign_id)
        open_ = of_campaign.where(leads.c.state.not_in([s.value for s in FINAL]))
        found = await self.session.scalar(select(of_campaign.exists() & ~open_.exists()))
        return bool(found)

    async def any_scheduled(self, campaign_id: UUID) -> bool:
        """Whether a lead of the campaign is scheduled for a step (the due index answers it)."""
        scheduled = select(leads.c.lead_id).where(
            leads.c.campaign_id == campaign_id, leads.c.state == LeadState.SCHEDULED.value
        )
        return bool(await self.session.scalar(select(scheduled.exists())))

    async def step_counts(self, campaign_id: UUID, total_steps: int) -> list[StepCount]:
        """Where the campaign's leads are on each step (see `StepCount`)."""
        rows = await self.session.execute(
            select(
                leads.c.state,
                leads.c.next_step,
                func.cardinality(leads.c.message_ids).label("sent"),
                (leads.c.stop_reason == STOP_FAILED).label("failed"),
                func.count().label("n"),
            )
            .where(leads.c.campaign_id == campaign_id)
            .group_by(text("1, 2, 3, 4"))
        )
        counts = {
            step: dict.fromkeys(("sent", "due", "waiting", "uncertain", "not_sendable", "failed"), 0)
            for step in range(1, total_steps + 1)
        }
        for row in rows:
            for step in range(1, min(row.sent, total_steps) + 1):
                counts[step]["sent"] += row.n
            bucket = _BUCKETS.get(row.state)
            if row.state == LeadState.STOPPED.value and row.failed:
                bucket = "failed"
            if bucket is not None and row.next_step in counts:
                counts[row.next_step][bucket] += row.n
        return [StepCount(step=step, **c) for step, c in counts.items()]

    async def record_health(
        self, mailbox_id: UUID, email: str, healthy: bool, reason: str, at: datetime
    ) -> None:
        """The newest word on a mailbox wins (events of it may come out of order)."""
        statement = insert(mailbox_health).values(
            mailbox_id=mailbox_id, email=email, healthy=healthy, reason=reason, occurred_at=at
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["mailbox_id"],
                set_={
                    "email": statement.excluded.email,
                    "healthy": statement.excluded.healthy,
                    "reason": statement.excluded.reason,
                    "occurred_at": statement.excluded.occurred_at,
                },
                where=mailbox_health.c.occurred_at <= statement.excluded.occurred_at,
            )
        )

    async def warnings(self, mailbox_ids: Sequence[UUID]) -> list[str]:
        if not mailbox_ids:
            return []
        rows = await self.session.execute(
            select(mailbox_health.c.email, mailbox_health.c.reason)
            .where(
                mailbox_health.c.mailbox_id == func.any(_ids(mailbox_ids)),
                mailbox_health.c.healthy.is_(False),
            )
            .order_by(mailbox_health.c.email)
        )
        return [
            f"mailbox {row.email} is unhealthy: {row.reason}"
            if row.reason
            else f"mailbox {row.email} is unhealthy"
            for row in rows
        ]


_BUCKETS = {
    LeadState.WAITING.value: "waiting",
    LeadState.SCHEDULED.value: "waiting",
    LeadState.DUE.value: "due",
    LeadState.UNCERTAIN.value: "uncertain",
    LeadState.NOT_SENDABLE.value: "not_sendable",
}
