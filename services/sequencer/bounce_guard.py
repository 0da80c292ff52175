"""Bounce protection as it runs: every EmailSent is recorded in `send_outcomes`, every EmailBounced that
counts (`bounce_protection.counts_as_bounce`) marks its send's row, and then the rates are judged.

A bounce is judged with the settings of the campaign whose send bounced, over its latest `window` sends
made since its last resume (`protected_since`): the campaign's own rate, and its mailbox's (the latest
sends of that mailbox across every campaign). Over the threshold, the campaign — or, for the mailbox's
rate, every active campaign using the mailbox whose protection is on — pauses itself
(`lifecycle.protect`), each in this unit of work: its row locked FOR UPDATE (in id order, so two bounces
pausing the same campaigns never wait on each other), its CampaignUpdated (status paused) in the outbox,
which the mailer follows as it follows a person's pause.

The guard runs before the progress handlers in the same unit of work (app.py), so the FOR SHARE those take
on the event's campaign comes after any lock taken here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import and_, any_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import EmailBounced, EmailSent, SendUncertain
from contracts.campaign_settings import CampaignStatus
from services.runtime.unit_of_work import UnitOfWork
from services.sequencer import lifecycle
from services.sequencer.bounce_protection import counts_as_bounce, over_threshold, pause_detail
from services.sequencer.lifecycle import Changed
from services.sequencer.repository import CampaignRepository
from services.sequencer.tables import campaigns, send_outcomes


@dataclass(frozen=True)
class Rate:
    sends: int
    bounces: int


class SendOutcomes:
    """The record of the latest sends and which bounced."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sent(self, event: EmailSent) -> None:
        """The send's row; when its bounce came first, the row it made gets the send's facts, still bounced."""
        values = {
            "campaign_id": event.campaign_id,
            "mailbox_id": event.mailbox_id,
            "mailbox": event.mailbox,
            "sent_at": event.occurred_at,
        }
        statement = insert(send_outcomes).values(message_id=event.message_id, **values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["message_id"], set_={k: statement.excluded[k] for k in values}
            )
        )

    async def bounced(self, event: EmailBounced) -> tuple[UUID, UUID | None]:
        """Mark the send's row bounced (a row of its own, keyed by the event, when the send is not named);
        the campaign and mailbox of the send as recorded (the bounce's own when the send is not known)."""
        message_id = event.message_id or f"bounce:{event.event_id}"
        statement = insert(send_outcomes).values(
            message_id=message_id,
            campaign_id=event.campaign_id,
            mailbox_id=event.mailbox_id,
            sent_at=event.occurred_at,
            bounced=True,
        )
        row = (
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["message_id"], set_={"bounced": True}
                ).returning(send_outcomes.c.campaign_id, send_outcomes.c.mailbox_id)
            )
        ).one()
        return row.campaign_id, row.mailbox_id if row.mailbox_id is not None else event.mailbox_id

    async def rate(
        self,
        *,
        window: int,
        since: datetime | None,
        campaign_id: UUID | None = None,
        mailbox_id: UUID | None = None,
    ) -> Rate:
        """Sends and bounces among the latest `window` rows (of the campaign, or of the mailbox) sent after
        `since`."""
        if campaign_id is not None:
            latest = select(send_outcomes.c.bounced).where(send_outcomes.c.campaign_id == campaign_id)
        else:
            latest = select(send_outcomes.c.bounced).where(send_outcomes.c.mailbox_id == mailbox_id)
        if since is not None:
            latest = latest.where(send_outcomes.c.sent_at > since)
        sub = latest.order_by(send_outcomes.c.sent_at.desc()).limit(window).subquery()
        row = (
            await self.session.execute(
                select(func.count(), func.count().filter(sub.c.bounced)).select_from(sub)
            )
        ).one()
        return Rate(sends=row[0], bounces=row[1])

    async def mailbox_address(self, mailbox_id: UUID) -> str:
        """The mailbox's address as its latest send named it; its id when no send did."""
        address = await self.session.scalar(
            select(send_outcomes.c.mailbox)
            .where(send_outcomes.c.mailbox_id == mailbox_id, send_outcomes.c.mailbox.is_not(None))
            .order_by(send_outcomes.c.sent_at.desc())
            .limit(1)
        )
        return address or str(mailbox_id)

    async def active_using(self, mailbox_id: UUID) -> list[UUID]:
        """The active campaigns sending from the mailbox."""
        rows = await self.session.scalars(
            select(campaigns.c.id).where(
                and_(
                    campaigns.c.status == CampaignStatus.ACTIVE.value,
                    any_(campaigns.c.mailbox_ids) == mailbox_id,
                )
            )
        )
        return list(rows)


class BounceGuard:
    async def on_send_event(self, uow: UnitOfWork, event: EmailSent | SendUncertain) -> None:
        if isinstance(event, EmailSent):
            await SendOutcomes(uow.session).sent(event)

    async def on_stop_event(self, uow: UnitOfWork, event: object) -> None:
        if isinstance(event, EmailBounced) and counts_as_bounce(event.kind, event.status):
            await self._judge(uow, event)

    async def _judge(self, uow: UnitOfWork, event: EmailBounced) -> None:
        outcomes = SendOutcomes(uow.session)
        campaign_id, mailbox_id = await outcomes.bounced(event)
        repo = CampaignRepository.from_session(uow.session)
        campaign = await repo.get(campaign_id)
        if campaign is None or not campaign.settings.bounce_protection.enabled:
            return
        settings, since = campaign.settings.bounce_protection, campaign.protected_since
        pauses: dict[UUID, str] = {}
        own = await outcomes.rate(window=settings.window, since=since, campaign_id=campaign.id)
        if campaign.status is CampaignStatus.ACTIVE and over_threshold(own.sends, own.bounces, settings):
            pauses[campaign.id] = pause_detail(own.sends, own.bounces, settings, None)
        if mailbox_id is not None:
            shared = await outcomes.rate(window=settings.window, since=since, mailbox_id=mailbox_id)
            if over_threshold(shared.sends, shared.bounces, settings):
                detail = pause_detail(
                    shared.sends, shared.bounces, settings, await outcomes.mailbox_address(mailbox_id)
                )
                for other in await outcomes.active_using(mailbox_id):
                    pauses.setdefault(other, detail)
        now = datetime.now(UTC)
        for paused_id in sorted(pauses):
            target = await repo.get(paused_id, for_update=True)
            if target is None or not target.settings.bounce_protection.enabled:
                continue
            outcome = lifecycle.protect(target, pauses[paused_id], now)
            if isinstance(outcome, Changed):
                await repo.save(outcome.campaign)
                uow.emit(*outcome.events)
