"""The mailer's send loop: claim due sends, check them against the suppression list, reserve them within
every limit, deliver them, settle the outcomes. Runs on the runtime's `LeasedWorker`.

At most once per (lead, step): a send is reserved — `sending`, with its mailbox, its Message-ID and a
lease — in a transaction that commits before the SMTP transaction starts, and settled after it. The
reservation locks the paces of the campaign's mailboxes (FOR UPDATE, in id order) so that mailers running
side by side never exceed a daily limit or a gap between them. A send still `sending` when its lease has
run out (its mailer died between the reservation and the settlement) becomes `uncertain` (`recover`):
shown, never sent again automatically.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import SendFailed, SendUncertain
from contracts.schedule import Schedule
from services.mailer.domain import Security
from services.mailer.message import Outgoing, build, message_id_for, unsubscribe_url
from services.mailer.pacing import Pacing
from services.mailer.planner import CampaignState, MailboxState, QueuedSend, plan
from services.mailer.sends_repository import SendRepository
from services.mailer.settle import Attempt, Health, RetryPolicy, SendRow, health_after, settle, step_fields
from services.mailer.smtp_pool import Endpoint, TryLater
from services.mailer.smtp_process import SmtpProcess
from services.mailer.suppression_check import SuppressionCheck
from services.runtime.secrets import NotDecryptable, Secrets
from services.runtime.service import NoAnswer, Service
from services.runtime.unit_of_work import UnitOfWork
from services.runtime.unsubscribe_tokens import UnsubscribeTokens

log = structlog.get_logger(__name__)

BATCH = 250
# The suppression list could not be asked: the sends are due again this soon.
UNANSWERED_RETRY = timedelta(seconds=5)


@dataclass(frozen=True)
class Suppressed:
    """The address is on the suppression list: never sent."""


@dataclass(frozen=True)
class Held:
    """Not sent in this pass: deferred by the limits or the window, cancelled meanwhile, or paused."""


@dataclass(frozen=True)
class Unanswered:
    """Whether the address is suppressed could not be asked: due again soon."""


Result = Suppressed | Held | Unanswered | Attempt


@dataclass(frozen=True)
class _Sender:
    """A reserved mailbox as a delivery needs it."""

    id: UUID
    email: str
    name: str
    endpoint: Endpoint | None
    problem: str = ""


class Sending:
    """The mailer's leased work (see the module)."""

    def __init__(
        self,
        service: Service,
        secrets: Secrets,
        pool: SmtpProcess,
        suppressions: SuppressionCheck,
        *,
        base_url: str,
        policy: RetryPolicy,
        send_lease: timedelta,
        batch: int = BATCH,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.service = service
        self.secrets = secrets
        self.tokens = UnsubscribeTokens.from_secrets(secrets)
        self.pool = pool
        self.suppressions = suppressions
        self.base_url = base_url
        self.policy = policy
        self.send_lease = send_lease
        self.batch = batch
        self.rand = rand
        self.clock = clock

    async def claim(self, session: AsyncSession, lease: timedelta) -> list[SendRow]:
        return await SendRepository.from_session(session).claim(self.batch, lease)

    async def perform(self, claimed: Sequence[SendRow]) -> list[Result]:
        results: dict[UUID, Result] = {}
        try:
            suppressed = await self.suppressions.suppressed(claimed)
        except NoAnswer as exc:
            log.warning("sends held: the suppression list could not be asked", error=str(exc))
            return [Unanswered() for _ in claimed]
        for row in claimed:
            if row.id in suppressed:
                results[row.id] = Suppressed()
        by_campaign: dict[UUID, list[SendRow]] = defaultdict(list)
        for row in claimed:
            if row.id not in results:
                by_campaign[row.campaign_id].append(row)
        deliveries: dict[UUID, list[tuple[SendRow, _Sender, str]]] = defaultdict(list)
        for campaign_id, rows in by_campaign.items():
            for row, sender, message_id in await self._reserve(campaign_id, rows):
                deliveries[sender.id].append((row, sender, message_id))
        attempts = await asyncio.gather(*(self._deliver_all(items) for items in deliveries.values()))
        for done in attempts:
            results.update(done)
        return [results.get(row.id, Held()) for row in claimed]

    async def _reserve(
        self, campaign_id: UUID, rows: Sequence[SendRow]
    ) -> list[tuple[SendRow, _Sender, str]]:
        """One transaction: lock the paces, plan, record the reserved sends and defer the others."""
        now = self.clock()
        async with self.service.sessions() as session, session.begin():
            repo = SendRepository.from_session(session)
            campaign = await repo.campaign(campaign_id)
            held = await repo.still_queued(rows)
            rows = [r for r in rows if r.id in held]
            if campaign is None or campaign.status != "active" or not rows:
                return []
            found = {m.id: m for m in await repo.mailboxes(campaign.workspace_id, campaign.mailbox_ids)}
            paces = await repo.lock_paces(list(found))
            pace, rotation = await repo.lock_campaign_pace(campaign_id)
            busy = await repo.busy_mailboxes(list(found))
            states = {
                m: MailboxState(
                    m,
                    Pacing(row.daily_limit, row.min_gap_seconds),
                    paces[m].pace,
                    paces[m].health.healthy,
                    paces[m].health.probe_after,
                    busy=m in busy and row.min_gap_seconds > 0,
                )
                for m, row in found.items()
            }
            schedule = None if campaign.schedule is None else Schedule.from_json(campaign.schedule)
            outcome = plan(
                [QueuedSend(r.id, r.preferred_mailbox_id) for r in rows],
                states,
                CampaignState(campaign.mailbox_ids, campaign.daily_limit, schedule, pace, rotation),
                now,
                self.rand,
            )
            by_id = {r.id: r for r in rows}
            senders = {m: self._sender(row) for m, row in found.items()}
            reserved = [
                (
                    by_id[r.send_id],
                    senders[r.mailbox_id],
                    message_id_for(r.send_id, found[r.mailbox_id].email),
                )
                for r in outcome.reserved
            ]
            await repo.mark_reserved([(row.id, s.id, mid) for row, s, mid in reserved], now, self.send_lease)
            await repo.defer([(d.send_id, d.not_before) for d in outcome.deferred])
            await repo.save_mailbox_paces(outcome.mailboxes)
            await repo.save_campaign_pace(campaign_id, outcome.campaign, outcome.rotation)
        return reserved

    def _sender(self, row: Any) -> _Sender:
        try:
            password = self.secrets.decrypt(row.smtp_password_encrypted)
        except NotDecryptable as exc:
            return _Sender(row.id, row.email, row.name, None, f"the SMTP password cannot be read: {exc}")
        endpoint = Endpoint(
            row.smtp_host, row.smtp_port, row.smtp_username, password, Security(row.smtp_security)
        )
        return _Sender(row.id, row.email, row.name, endpoint)

    async def _deliver_all(self, items: Sequence[tuple[SendRow, _Sender, str]]) -> dict[UUID, Attempt]:
        """One mailbox's reserved sends, built, then delivered in order over its connection."""
        sender = items[0][1]
        now = self.clock()
        if sender.endpoint is None:
            return {
                row.id: Attempt(sender.id, sender.email, message_id, TryLater(None, sender.problem), now)
                for row, _, message_id in items
            }
        deliveries = [
            (row.email, self._message(row, sender, message_id, now)) for row, _, message_id in items
        ]
        done = await self.pool.deliver_batch(sender.id, sender.endpoint, sender.email, deliveries)
        return {
            row.id: Attempt(sender.id, sender.email, message_id, outcome, at)
            for (row, _, message_id), (outcome, at) in zip(items, done, strict=True)
        }

    def _message(self, row: SendRow, sender: _Sender, message_id: str, now: datetime) -> bytes:
        token = self.tokens.make_token(row.workspace_id, row.lead_id, row.email)
        return build(
            Outgoing(
                message_id=message_id,
                from_name=sender.name,
                from_email=sender.email,
                to=row.email,
                subject=row.subject,
                body=row.body,
                date=now,
                unsubscribe_url=unsubscribe_url(self.base_url, token),
                in_reply_to=row.in_reply_to,
                references=row.references,
            )
        )

    async def record(self, uow: UnitOfWork, results: Sequence[tuple[SendRow, Result]]) -> None:
        repo = SendRepository.from_session(uow.session)
        attempts = [(row, r) for row, r in results if isinstance(r, Attempt)]
        states = await repo.states([row.id for row, _ in attempts])
        by_mailbox: dict[UUID, list[tuple[SendRow, Attempt, bool | None]]] = defaultdict(list)
        settled: list[tuple[UUID, dict[str, Any]]] = []
        for row, result in results:
            if isinstance(result, Suppressed):
                settled.append((row.id, {"state": "failed", "last_error": "suppressed"}))
                uow.emit(
                    SendFailed(
                        workspace_id=row.workspace_id,
                        campaign_id=row.campaign_id,
                        lead_id=row.lead_id,
                        step=row.step,
                        total_steps=row.total_steps,
                        reason="suppressed",
                        detail="the address is on the suppression list",
                    )
                )
            elif isinstance(result, Unanswered):
                await repo.defer([(row.id, self.clock() + UNANSWERED_RETRY)])
            elif isinstance(result, Attempt):
                settlement = settle(row, states.get(row.id, "sending"), result, self.policy)
                settled.append((row.id, settlement.values))
                uow.emit_all(settlement.events)
                by_mailbox[result.mailbox_id].append((row, result, settlement.mailbox_failed))
        await repo.settle(settled)
        paces = await repo.lock_paces(list(by_mailbox))
        saved: list[tuple[UUID, datetime | None, Health]] = []
        for mailbox_id in sorted(by_mailbox):
            health = paces[mailbox_id].health
            last_at = None
            for row, attempt, failed in by_mailbox[mailbox_id]:
                last_at = attempt.at
                if failed is None:
                    continue
                change = health_after(
                    health,
                    failed,
                    getattr(attempt.outcome, "text", ""),
                    attempt.at,
                    row.workspace_id,
                    mailbox_id,
                    attempt.mailbox_email,
                )
                health = change.health
                uow.emit_all(change.events)
            saved.append((mailbox_id, last_at, health))
        await repo.save_settled_paces(saved)

    async def recover(self) -> int:
        """Sends whose lease lapsed while `sending` become `uncertain`, each with a SendUncertain."""
        async with self.service.unit_of_work() as uow:
            lapsed = await SendRepository.from_session(uow.session).lapsed(self.batch)
            for row in lapsed:
                uow.emit(
                    SendUncertain(
                        **step_fields(row),
                        message_id=row.message_id or "",
                        mailbox_id=row.mailbox_id,
                        mailbox=row.mailbox_email or "",
                    )
                )
        if lapsed:
            log.warning("sends left under way by a stopped mailer are uncertain", count=len(lapsed))
        return len(lapsed)
