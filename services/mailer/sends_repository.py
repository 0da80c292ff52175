"""Persistence of the send queue, the campaigns' copy and the paces (schema `mailer`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    DateTime,
    Row,
    Uuid,
    and_,
    any_,
    bindparam,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import CampaignUpdated
from contracts.campaign_settings import CampaignStatus
from contracts.events import StepDue
from services.mailer.pacing import CampaignPace, MailboxPace
from services.mailer.send_queue import queue_step_due
from services.mailer.settle import Health, SendRow
from services.mailer.stops import queued_unless_stopped, record_stops
from services.mailer.tables import campaign_pace, campaigns, mailbox_pace, mailboxes, sends
from services.runtime.leases import LeasedRows

_active_campaigns = select(campaigns.c.id).where(campaigns.c.status == CampaignStatus.ACTIVE.value)

LEASES = LeasedRows(
    table=sends,
    id=sends.c.id,
    leased_until=sends.c.leased_until,
    not_before=sends.c.not_before,
    token=sends.c.token,
    claimable=and_(sends.c.state == "queued", sends.c.campaign_id.in_(_active_campaigns.scalar_subquery())),
)
# The first day of the paces' calendar: a pace row not used yet counts from nothing.
NEVER = date.min


@dataclass(frozen=True)
class CampaignCopy:
    id: UUID
    workspace_id: UUID
    status: str
    mailbox_ids: tuple[UUID, ...]
    daily_limit: int | None
    schedule: Mapping[str, Any] | None
    stop_on_reply: bool


@dataclass(frozen=True)
class PaceRow:
    mailbox_id: UUID
    pace: MailboxPace
    health: Health


def send_row(row: Row[Any]) -> SendRow:
    return SendRow(
        id=row.id,
        token=row.token,
        workspace_id=row.workspace_id,
        campaign_id=row.campaign_id,
        lead_id=row.lead_id,
        step=row.step,
        total_steps=row.total_steps,
        email=row.email,
        subject=row.subject,
        body=row.body,
        in_reply_to=row.in_reply_to,
        references=tuple(row.references),
        preferred_mailbox_id=row.preferred_mailbox_id,
        attempts=row.attempts,
        queued_at=row.queued_at,
    )


def _ids(values: Iterable[UUID]) -> Any:
    return literal(list(values), ARRAY(Uuid))


def _by_arrays(columns: Mapping[str, Sequence[Any]]) -> Any:
    """Rows given as one array per column of `sends` (`unnest` of them, as the derived table `given`):
    one statement and one parameter per column however many rows, where a statement executed once per
    row made the database driver prepare and send each of them."""
    arrays = [literal(list(values), ARRAY(sends.c[name].type)) for name, values in columns.items()]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name="given")


class SendRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> SendRepository:
        return cls(session)

    async def queue(self, due: Sequence[StepDue], now: datetime) -> None:
        """A queued send per StepDue; a (lead, step) already queued (or sent) is left as it is."""
        await queue_step_due(self.session, due, now)

    async def save_campaign(self, event: CampaignUpdated) -> None:
        """The campaign's copy, unless a newer change is already stored (events may come out of order)."""
        settings = event.settings
        values = {
            "workspace_id": event.workspace_id,
            "status": event.status.value,
            "mailbox_ids": list(settings.mailbox_ids),
            "daily_limit": settings.daily_limit,
            "schedule": None if settings.schedule is None else settings.schedule.model_dump(by_alias=True),
            "stop_on_reply": settings.stop_on_reply,
            "updated_at": event.occurred_at,
        }
        statement = insert(campaigns).values(id=event.campaign_id, **values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"],
                set_={k: statement.excluded[k] for k in values},
                where=campaigns.c.updated_at <= statement.excluded.updated_at,
            )
        )

    async def campaign(self, campaign_id: UUID) -> CampaignCopy | None:
        row = (await self.session.execute(select(campaigns).where(campaigns.c.id == campaign_id))).first()
        if row is None:
            return None
        return CampaignCopy(
            id=row.id,
            workspace_id=row.workspace_id,
            status=row.status,
            mailbox_ids=tuple(row.mailbox_ids),
            daily_limit=row.daily_limit,
            schedule=row.schedule,
            stop_on_reply=row.stop_on_reply,
        )

    async def cancel(self, campaign_id: UUID, lead_ids: Sequence[UUID]) -> int:
        """The leads' queued sends are cancelled (a send already under way is not stopped)."""
        result = await self.session.execute(
            update(sends)
            .where(sends.c.campaign_id == campaign_id, sends.c.lead_id == any_(_ids(lead_ids)))
            .where(sends.c.state == "queued")
            .values(state="cancelled", leased_until=None, token=None),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def claim(self, limit: int, lease: timedelta) -> list[SendRow]:
        claimed = await LEASES.claim(self.session, limit, lease)
        return [send_row(c.row) for c in claimed]

    async def stop(self, campaign_id: UUID, lead_ids: Sequence[UUID], at: datetime) -> int:
        """The leads' stop at `at` kept (no StepDue as old is sent: `stops.py`), their queued sends cancelled."""
        await record_stops(self.session, campaign_id, lead_ids, at)
        return await self.cancel(campaign_id, lead_ids)

    async def still_queued(self, claimed: Sequence[SendRow]) -> set[UUID]:
        """Those of `claimed` still queued under their claim's token, locked until the transaction ends;
        those whose lead stopped since their StepDue are cancelled instead (`stops.queued_unless_stopped`)."""
        if not claimed:
            return set()
        held = await LEASES.owned(self.session, claimed)
        return await queued_unless_stopped(self.session, list(held))

    async def lock_paces(self, mailbox_ids: Sequence[UUID]) -> dict[UUID, PaceRow]:
        """The mailboxes' paces, created when missing, locked FOR UPDATE in id order (no deadlock between
        two mailers reserving for campaigns that share mailboxes)."""
        ordered = sorted(set(mailbox_ids))
        if not ordered:
            return {}
        await self.session.execute(
            insert(mailbox_pace)
            .values([{"mailbox_id": m, "day": NEVER} for m in ordered])
            .on_conflict_do_nothing(index_elements=["mailbox_id"])
        )
        rows = await self.session.execute(
            select(mailbox_pace)
            .where(mailbox_pace.c.mailbox_id == any_(_ids(ordered)))
            .order_by(mailbox_pace.c.mailbox_id)
            .with_for_update()
        )
        return {
            r.mailbox_id: PaceRow(
                r.mailbox_id,
                MailboxPace(r.sent_today, r.day, r.last_sent_at, timedelta(seconds=r.next_gap)),
                Health(r.failures, r.healthy, r.unhealthy_reason, r.probe_after),
            )
            for r in rows
        }

    async def lock_campaign_pace(self, campaign_id: UUID) -> tuple[CampaignPace, int]:
        await self.session.execute(
            insert(campaign_pace).values(campaign_id=campaign_id, day=NEVER).on_conflict_do_nothing()
        )
        row = (
            await self.session.execute(
                select(campaign_pace).where(campaign_pace.c.campaign_id == campaign_id).with_for_update()
            )
        ).one()
        return CampaignPace(row.sent_today, row.day), row.rotation

    async def busy_mailboxes(self, mailbox_ids: Sequence[UUID]) -> set[UUID]:
        """The mailboxes with a send under way (recorded, not settled)."""
        rows = await self.session.scalars(
            select(sends.c.mailbox_id)
            .where(sends.c.state == "sending", sends.c.mailbox_id == any_(_ids(mailbox_ids)))
            .distinct()
        )
        return set(rows)

    async def mailboxes(self, workspace_id: UUID, mailbox_ids: Sequence[UUID]) -> list[Row[Any]]:
        """The workspace's mailboxes among `mailbox_ids` (another workspace's id finds nothing)."""
        rows = await self.session.execute(
            select(mailboxes).where(
                mailboxes.c.workspace_id == workspace_id, mailboxes.c.id == any_(_ids(mailbox_ids))
            )
        )
        return list(rows.all())

    async def save_mailbox_paces(self, paces: Mapping[UUID, MailboxPace]) -> None:
        if not paces:
            return
        await self.session.execute(
            update(mailbox_pace)
            .where(mailbox_pace.c.mailbox_id == bindparam("b_id"))
            .values(
                day=bindparam("b_day"),
                sent_today=bindparam("b_sent"),
                last_sent_at=bindparam("b_last"),
                next_gap=bindparam("b_gap"),
            ),
            [
                {
                    "b_id": mailbox_id,
                    "b_day": paces[mailbox_id].day,
                    "b_sent": paces[mailbox_id].sent_today,
                    "b_last": paces[mailbox_id].last_sent_at,
                    "b_gap": paces[mailbox_id].next_gap.total_seconds(),
                }
                for mailbox_id in sorted(paces)
            ],
            execution_options={"synchronize_session": False},
        )

    async def save_campaign_pace(self, campaign_id: UUID, pace: CampaignPace, rotation: int) -> None:
        await self.session.execute(
            update(campaign_pace)
            .where(campaign_pace.c.campaign_id == campaign_id)
            .values(day=pace.day, sent_today=pace.sent_today, rotation=rotation)
        )

    async def mark_reserved(
        self, reserved: Sequence[tuple[UUID, UUID, str]], now: datetime, lease: timedelta
    ) -> None:
        """(send id, mailbox id, Message-ID): `sending` from now, leased for `lease`; the token stays."""
        if not reserved:
            return
        given = _by_arrays(
            {
                "id": [s for s, _, _ in reserved],
                "mailbox_id": [m for _, m, _ in reserved],
                "message_id": [msg for _, _, msg in reserved],
            }
        )
        await self.session.execute(
            update(sends)
            .where(sends.c.id == given.c.id)
            .values(
                state="sending",
                mailbox_id=given.c.mailbox_id,
                message_id=given.c.message_id,
                reserved_at=now,
                leased_until=now + lease,
            ),
            execution_options={"synchronize_session": False},
        )

    async def defer(self, deferred: Sequence[tuple[UUID, datetime]]) -> None:
        """Handed back, due again at their times (the claim ends for them)."""
        if not deferred:
            return
        await self.session.execute(
            update(sends)
            .where(sends.c.id == bindparam("b_id"))
            .values(not_before=bindparam("b_at"), leased_until=None, token=None),
            [{"b_id": s, "b_at": at} for s, at in deferred],
            execution_options={"synchronize_session": False},
        )

    async def states(self, ids: Sequence[UUID]) -> dict[UUID, str]:
        rows = await self.session.execute(
            select(sends.c.id, sends.c.state).where(sends.c.id == any_(_ids(ids)))
        )
        return {r.id: r.state for r in rows}

    async def settle(self, settled: Sequence[tuple[UUID, Mapping[str, Any]]]) -> None:
        """Each send's new columns: one statement per set of columns changed, its rows given as arrays. The
        same statement ends the claim's lease (as `LEASES.end` would, which then finds these rows no
        longer held): a send row is wide, and each update of it writes all of it again."""
        groups: dict[tuple[str, ...], list[tuple[UUID, Mapping[str, Any]]]] = {}
        for send_id, values in settled:
            if values:
                groups.setdefault(tuple(sorted(values)), []).append((send_id, values))
        for columns, rows in groups.items():
            given = _by_arrays(
                {"id": [send_id for send_id, _ in rows]}
                | {c: [values[c] for _, values in rows] for c in columns}
            )
            await self.session.execute(
                update(sends)
                .where(sends.c.id == given.c.id)
                .values({c: given.c[c] for c in columns} | {"leased_until": None, "token": None}),
                execution_options={"synchronize_session": False},
            )

    async def save_settled_paces(self, settled: Sequence[tuple[UUID, datetime | None, Health]]) -> None:
        """Each mailbox's health after its deliveries, and its last send (never moved back): one statement
        executed for all of them."""
        if not settled:
            return
        await self.session.execute(
            update(mailbox_pace)
            .where(mailbox_pace.c.mailbox_id == bindparam("b_id"))
            .values(
                failures=bindparam("b_failures"),
                healthy=bindparam("b_healthy"),
                unhealthy_reason=bindparam("b_reason"),
                probe_after=bindparam("b_probe"),
                # GREATEST ignores a NULL: a mailbox with no delivery in the batch keeps its last send.
                last_sent_at=func.greatest(
                    mailbox_pace.c.last_sent_at, bindparam("b_last", type_=DateTime(timezone=True))
                ),
            ),
            [
                {
                    "b_id": mailbox_id,
                    "b_failures": health.failures,
                    "b_healthy": health.healthy,
                    "b_reason": health.reason,
                    "b_probe": health.probe_after,
                    "b_last": last_at,
                }
                for mailbox_id, last_at, health in sorted(settled, key=lambda item: item[0])
            ],
            execution_options={"synchronize_session": False},
        )

    async def lapsed(self, limit: int) -> list[Row[Any]]:
        """Sends whose lease ran out while `sending` become `uncertain` (the token stays, so the worker that
        sent them may still settle them as sent); returned with their mailbox's address."""
        picked = (
            select(sends.c.id)
            # A lease ended without a settlement (a recording that failed and handed the claim back) too.
            .where(
                sends.c.state == "sending",
                or_(sends.c.leased_until.is_(None), sends.c.leased_until < func.now()),
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        changed = (
            update(sends)
            .where(sends.c.id.in_(picked))
            .values(state="uncertain", leased_until=None)
            .returning(*sends.c)
            .cte("changed")
        )
        rows = await self.session.execute(
            select(changed, mailboxes.c.email.label("mailbox_email")).outerjoin(
                mailboxes, mailboxes.c.id == changed.c.mailbox_id
            )
        )
        return list(rows.all())

    async def page(
        self, workspace_id: UUID, campaign_id: UUID, state: str | None, limit: int, after: UUID | None
    ) -> list[Row[Any]]:
        query = select(sends, mailboxes.c.email.label("mailbox_email")).outerjoin(
            mailboxes, mailboxes.c.id == sends.c.mailbox_id
        )
        query = query.where(sends.c.workspace_id == workspace_id, sends.c.campaign_id == campaign_id)
        if state is not None:
            query = query.where(sends.c.state == state)
        if after is not None:
            query = query.where(sends.c.id > after)
        rows = await self.session.execute(query.order_by(sends.c.id).limit(limit))
        return list(rows.all())
