"""The mailer's loops and the events that feed them.

Consumers: StepDue queues a send (one per (lead, step): a repeated StepDue is a no-op); CampaignUpdated
keeps the mailer's copy of the campaign (only an active campaign's sends are claimed); every event that
`contracts.lead_status.stops_sequence` says ends a lead's sequence cancels the lead's queued sends — the
lead's own (a reply, a bounce, …) and the sequencer's `SequenceStopped` of a lead whose company replied
(the sequencer alone knows the campaign's leads and decides who is one company's; the mailer follows it).
The stop is also kept with its time (`stops.py`): a StepDue no newer than it, which its own durable may bring
after the stop's, is never sent.
Loops: the send loop (`sender.Sending` on a `LeasedWorker`, woken by new sends), the recovery of sends
left under way by a mailer that died, and the closing of idle SMTP connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import CampaignUpdated, Event
from contracts.events import StepDue
from contracts.lead_status import stops_sequence
from services.mailer.message import unsubscribe_base
from services.mailer.sender import Sending
from services.mailer.sends_repository import LEASES, SendRepository
from services.mailer.settle import RetryPolicy
from services.mailer.smtp_process import SmtpProcess
from services.mailer.suppression_check import SuppressionCheck
from services.runtime.leased_work import LeasedWorker, WorkLoop
from services.runtime.secrets import Secrets
from services.runtime.service import Service
from services.runtime.unit_of_work import UnitOfWork

# The event types whose `stops_sequence` may cancel queued sends.
STOP_EVENTS = (
    "reply_detected",
    "email_bounced",
    "lead_unsubscribed",
    "send_failed",
    "leads_removed",
    "lead_status_changed",
    "lead_validated",
)
# The sequencer's own stops of leads (a company's reply), on a durable of their own.
SEQUENCE_STOP_EVENTS = ("sequence_stopped",)
POLL_SECONDS = 1.0
# Send loops side by side: one records or reserves while another delivers (a mailbox's deliveries still
# go one at a time over its one connection).
WORKERS = 4
RECOVER_SECONDS = 5.0


class MailRunner:
    def __init__(self, service: Service, secrets: Secrets, pool: SmtpProcess) -> None:
        settings = service.settings
        self.service = service
        self.pool = pool
        self.sending = Sending(
            service,
            secrets,
            self.pool,
            SuppressionCheck(service),
            base_url=unsubscribe_base(settings.public_url, settings.http_host, settings.http_port),
            policy=RetryPolicy(first=timedelta(seconds=settings.mailer_retry_first_seconds)),
            send_lease=timedelta(seconds=settings.mailer_send_lease_seconds),
        )
        self.worker = LeasedWorker(
            self.sending,
            LEASES,
            name="mailer-sends",
            sessions=service.sessions,
            units=service.unit_of_work,
            # A claimed send not reserved within this long (its mailer died before) is claimed again:
            # nothing was sent.
            lease=timedelta(seconds=settings.mailer_claim_lease_seconds),
            every=POLL_SECONDS,
            workers=WORKERS,
        )
        self.recovery = WorkLoop(self.sending.recover, name="mailer-recovery", every=RECOVER_SECONDS)
        self.idle = WorkLoop(self._close_idle, name="mailer-idle-connections", every=POLL_SECONDS)

    async def start(self) -> None:
        self.service.spawn(self.worker.run(), "mailer-sends")
        self.service.spawn(self.recovery.run(), "mailer-recovery")
        self.service.spawn(self.idle.run(), "mailer-idle-connections")

    async def stop(self) -> None:
        await self.pool.close()

    async def _close_idle(self) -> int:
        await self.pool.close_idle()
        return 0

    async def on_step_due(self, uow: UnitOfWork, event: StepDue) -> None:
        await self.on_steps_due(uow, [event])

    async def on_steps_due(self, uow: UnitOfWork, events: Sequence[StepDue]) -> None:
        await SendRepository.from_session(uow.session).queue(events, datetime.now(UTC))
        # Woken a moment early (before this transaction commits) is harmless: the worker polls anyway.
        self.worker.wake()

    async def on_campaign_updated(self, uow: UnitOfWork, event: CampaignUpdated) -> None:
        await SendRepository.from_session(uow.session).save_campaign(event)
        self.worker.wake()

    async def on_stop_event(self, uow: UnitOfWork, event: Event) -> None:
        campaign_id = getattr(event, "campaign_id", None)
        if campaign_id is None:
            return
        repo = SendRepository.from_session(uow.session)
        campaign = await repo.campaign(campaign_id)
        stop_on_reply = True if campaign is None else campaign.stop_on_reply
        if not stops_sequence(event, stop_on_reply=stop_on_reply):
            return
        await repo.stop(campaign_id, _lead_ids(event), event.occurred_at)


def _lead_ids(event: Any) -> list[Any]:
    if hasattr(event, "lead_ids"):
        return list(event.lead_ids)
    return [event.lead_id]
