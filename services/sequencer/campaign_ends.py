"""When a campaign is done, and when it is not any more: a pass over the campaigns (`CampaignEnds.run_once`).

An active campaign whose leads have all finished — each one's last step sent, or its sequence stopped
(a reply, a bounce, an unsubscribe, an invalid address, a manual status) — becomes `completed`: nothing
is left for it to send. A lead that is waiting, scheduled, due, not sendable (a variable it lacks) or
uncertain (a send nobody knows the fate of) has not finished, so neither has its campaign. Leads added to
a completed campaign that become due for a step make it active again, and they are sent as in any active
campaign.

Each change is the campaign's own transaction: its row locked FOR UPDATE (the progress handlers hold it
FOR SHARE while they move its leads, so a lead joining meanwhile is seen), the condition checked again
under the lock, the status saved and its CampaignUpdated written to the outbox together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import structlog

from contracts.campaign_settings import CampaignStatus
from services.runtime.service import Service
from services.sequencer import lifecycle
from services.sequencer.domain import Campaign
from services.sequencer.leads_repository import LeadRepository
from services.sequencer.lifecycle import Changed, Refused
from services.sequencer.repository import CampaignRepository

log = structlog.get_logger(__name__)

# An active campaign with nothing due is looked at again after this long: finding that one lead of a
# large campaign has not finished may read many of its leads.
RECHECK_SECONDS = 10.0

Decision = Callable[[Campaign, datetime], Changed | Refused]


class CampaignEnds:
    def __init__(self, service: Service, *, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.service = service
        self.recheck_seconds = recheck_seconds
        self._checked: dict[UUID, float] = {}

    async def run_once(self) -> int:
        """Complete the finished active campaigns and reopen the completed ones with due leads; how many
        changed."""
        async with self.service.sessions() as session:
            campaigns = CampaignRepository.from_session(session)
            leads = LeadRepository.from_session(session)
            finished = [
                c.id
                for c in await campaigns.active()
                if self._due_for_check(c.id) and await leads.all_finished(c.id)
            ]
            reopened = [
                c.id
                for c in await campaigns.with_status(CampaignStatus.COMPLETED)
                if await leads.any_scheduled(c.id)
            ]
        changed = 0
        for campaign_id in finished:
            changed += await self._change(campaign_id, lifecycle.complete, finished=True)
        for campaign_id in reopened:
            changed += await self._change(campaign_id, lifecycle.reopen, finished=False)
        return changed

    def _due_for_check(self, campaign_id: UUID) -> bool:
        now = time.monotonic()
        if now - self._checked.get(campaign_id, float("-inf")) < self.recheck_seconds:
            return False
        self._checked[campaign_id] = now
        return True

    async def _change(self, campaign_id: UUID, decision: Decision, *, finished: bool) -> int:
        """One campaign's change in its own unit of work, if its leads still say so under the lock."""
        async with self.service.unit_of_work() as uow:
            campaign = await CampaignRepository.from_session(uow.session).get(campaign_id, for_update=True)
            if campaign is None:
                return 0
            leads = LeadRepository.from_session(uow.session)
            still = (
                await leads.all_finished(campaign_id) if finished else await leads.any_scheduled(campaign_id)
            )
            outcome = decision(campaign, datetime.now(UTC))
            if not still or isinstance(outcome, Refused):
                return 0
            await CampaignRepository.from_session(uow.session).save(outcome.campaign)
            uow.emit(*outcome.events)
        log.info(
            "campaign completed" if finished else "campaign active again: new leads are due",
            campaign_id=str(campaign_id),
        )
        return 1
