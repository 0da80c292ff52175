"""The validator's queue in PostgreSQL (`validator.validations`): every statement the service runs on it.

The decisions — how a batch is shared between campaigns (fair_claim.py), what a pass's result means for
a lead (domain.py `decide`) — are made elsewhere; this module only reads and writes what they decided.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Interval, and_, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import ImportedLead
from services.runtime.leases import LeasedRows
from services.validator.domain import Again, Claimed, Done, HoldCause, ValidationState
from services.validator.fair_claim import Queue
from services.validator.tables import SCHEMA, validations

# A lead's lease: `probing` until `locked_until`, which is also the claim's token (one value per claiming
# transaction), due again at `next_attempt_at`. A lapsed lease does not make a lead `queued` again by
# itself: `requeue_lapsed` does, before each claim.
LEASES = LeasedRows(
    validations,
    id=validations.c.lead_id,
    leased_until=validations.c.locked_until,
    not_before=validations.c.next_attempt_at,
    claimable=validations.c.state == ValidationState.QUEUED,
    on_claim={"state": ValidationState.PROBING},
    on_release={"state": ValidationState.QUEUED},
)

# Workspace and campaign pairs with queued leads, one index probe each (a loose index scan over
# `validations_queue`): a million queued leads in a few campaigns cost what a hundred do.
_QUEUES = text(
    f"""
    WITH RECURSIVE queues AS (
        (SELECT workspace_id, campaign_id FROM {SCHEMA}.validations
         WHERE state = '{ValidationState.QUEUED.value}' ORDER BY workspace_id, campaign_id LIMIT 1)
        UNION ALL
        SELECT next.workspace_id, next.campaign_id
        FROM queues CROSS JOIN LATERAL (
            SELECT v.workspace_id, v.campaign_id FROM {SCHEMA}.validations v
            WHERE v.state = '{ValidationState.QUEUED.value}'
              AND (v.workspace_id, v.campaign_id) > (queues.workspace_id, queues.campaign_id)
            ORDER BY v.workspace_id, v.campaign_id LIMIT 1
        ) AS next
    )
    SELECT workspace_id, campaign_id FROM queues
    """
)

# Each campaign's due leads in the order they fell due, up to its share, skipping leads another worker
# is claiming; all of them are marked `probing` under one lease, which is also the claim's token.
_CLAIM = text(
    f"""
    WITH picked AS (
        SELECT lead.lead_id
        FROM unnest(CAST(:workspaces AS uuid[]), CAST(:campaigns AS uuid[]), CAST(:shares AS integer[]))
             AS share(workspace_id, campaign_id, n)
        CROSS JOIN LATERAL (
            SELECT v.lead_id FROM {SCHEMA}.validations v
            WHERE v.state = '{ValidationState.QUEUED.value}' AND v.workspace_id = share.workspace_id
              AND v.campaign_id = share.campaign_id AND v.next_attempt_at <= now()
            ORDER BY v.next_attempt_at
            LIMIT share.n
            FOR UPDATE SKIP LOCKED
        ) AS lead
        -- Changes no result (the shares add up to it), but tells the planner how few rows come: without
        -- it, it guesses a tenth of the table and joins the update through a scan of all of it.
        LIMIT :total
    )
    UPDATE {SCHEMA}.validations v
    SET state = '{ValidationState.PROBING.value}', locked_until = now() + :lease
    FROM picked
    WHERE v.lead_id = picked.lead_id
    RETURNING v.lead_id, v.workspace_id, v.campaign_id, v.email, v.attempts, v.run, v.locked_until
    """
).bindparams(bindparam("lease", type_=Interval))


class ValidationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ValidationRepository:
        return cls(session)

    async def queue_imported(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, leads: Sequence[ImportedLead]
    ) -> None:
        """Queue every lead of an import batch once (a redelivered batch queues nothing)."""
        await self.session.execute(
            insert(validations)
            .values(
                [
                    {
                        "lead_id": lead.lead_id,
                        "workspace_id": workspace_id,
                        "campaign_id": campaign_id,
                        "email": lead.email,
                    }
                    for lead in leads
                ]
            )
            .on_conflict_do_nothing(index_elements=["lead_id"])
        )

    async def forget(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]
    ) -> None:
        await self.session.execute(
            delete(validations).where(
                validations.c.lead_id.in_(lead_ids),
                validations.c.workspace_id == workspace_id,
                validations.c.campaign_id == campaign_id,
            )
        )

    async def requeue_lapsed(self) -> int:
        """Leads whose claim's lease ran out (a worker that died) are queued again. The old claim's
        token no longer matches, so its worker, if it comes back, records nothing."""
        return await LEASES.lapse(self.session, validations.c.state == ValidationState.PROBING)

    async def queues(self) -> list[Queue]:
        rows = await self.session.execute(_QUEUES)
        return [Queue(workspace_id, campaign_id) for workspace_id, campaign_id in rows]

    async def claim(self, shares: dict[Queue, int], lease: timedelta) -> list[Claimed]:
        """Up to `shares[queue]` due leads of each queue, marked as being verified until the lease ends.
        Every claim of one transaction has the same token (`now()` is the transaction's time)."""
        if not shares:
            return []
        queues = list(shares)
        rows = await self.session.execute(
            _CLAIM,
            {
                "workspaces": [q.workspace_id for q in queues],
                "campaigns": [q.campaign_id for q in queues],
                "shares": [shares[q] for q in queues],
                "total": sum(shares.values()),
                "lease": lease,
            },
        )
        return [Claimed(*row) for row in rows]

    async def record_done(self, done: Sequence[Done]) -> None:
        if not done:
            return
        await self.session.execute(
            update(validations)
            .where(_probing())
            .values(
                state=ValidationState.DONE,
                held=False,
                held_for=None,
                locked_until=None,
                validated_at=func.now(),
                verdict=bindparam("verdict"),
                reason=bindparam("reason"),
                mx=bindparam("mx"),
                smtp_code=bindparam("smtp_code"),
                catch_all=bindparam("catch_all"),
                disposable=bindparam("disposable"),
                role=bindparam("role"),
            ),
            [
                {
                    "lid": d.lead.lead_id,
                    "verdict": d.result.verdict.value,
                    "reason": d.result.reason.value,
                    "mx": d.result.mx,
                    "smtp_code": d.result.smtp_code,
                    "catch_all": d.result.catch_all,
                    "disposable": d.result.disposable,
                    "role": d.result.role,
                }
                for d in done
            ],
            execution_options={"synchronize_session": False},
        )

    async def record_again(self, again: Sequence[Again]) -> None:
        if not again:
            return
        await self.session.execute(
            update(validations)
            .where(_probing())
            .values(
                state=ValidationState.QUEUED,
                locked_until=None,
                attempts=bindparam("attempts"),
                held=bindparam("held"),
                held_for=bindparam("held_for"),
                next_attempt_at=func.now() + bindparam("wait", type_=Interval),
            ),
            [
                {
                    "lid": a.lead.lead_id,
                    "attempts": a.requeue.attempts,
                    "held": a.requeue.held_for is not None,
                    "held_for": a.requeue.held_for.value if a.requeue.held_for else None,
                    "wait": timedelta(seconds=a.requeue.wait_seconds),
                }
                for a in again
            ],
            execution_options={"synchronize_session": False},
        )

    async def release_held(self, cause: HoldCause) -> int:
        """Leads held for `cause` are due now (that part of the validator works again)."""
        result = await self.session.execute(
            update(validations)
            .where(
                validations.c.state == ValidationState.QUEUED,
                validations.c.held,
                validations.c.held_for == cause.value,
            )
            .values(held=False, held_for=None, next_attempt_at=func.now())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def rerun(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, reasons: Iterable[str]) -> int:
        """Queue the campaign's verified leads (those with one of `reasons`, or all) for another run.
        Leads not done — queued, held or being verified — are untouched, so asking twice queues once."""
        wanted = list(reasons)
        conditions: list[Any] = [
            validations.c.workspace_id == workspace_id,
            validations.c.campaign_id == campaign_id,
            validations.c.state == ValidationState.DONE,
        ]
        if wanted:
            conditions.append(validations.c.reason.in_(wanted))
        result = await self.session.execute(
            update(validations)
            .where(and_(*conditions))
            .values(
                state=ValidationState.QUEUED,
                run=validations.c.run + 1,
                attempts=0,
                held=False,
                held_for=None,
                locked_until=None,
                next_attempt_at=func.now(),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def status(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> tuple[int, int]:
        """The campaign's leads waiting for a pass, and how many of them are held."""
        row = (
            await self.session.execute(
                select(
                    func.count().filter(validations.c.state != ValidationState.DONE),
                    func.count().filter(
                        and_(validations.c.state != ValidationState.DONE, validations.c.held)
                    ),
                ).where(validations.c.workspace_id == workspace_id, validations.c.campaign_id == campaign_id)
            )
        ).one()
        return int(row[0]), int(row[1])


def _probing() -> Any:
    return and_(validations.c.lead_id == bindparam("lid"), validations.c.state == ValidationState.PROBING)
