"""Wiring of the validator service: every imported lead is verified in the background, by itself.

On LeadImported the consumer only queues the batch's leads (one row per lead, keyed by lead id, in the
consumer's transaction: a redelivered LeadImported queues nothing). Worker loops claim due leads, verify
them outside any transaction (DNS and SMTP take seconds), and record each result with its LeadValidated
in one transaction. A lead whose answer is not final yet — greylisted, or its MX unreachable — is queued
again on the retry schedule; while the prober itself looks blocked (the health guard), affected leads are
held and retried later rather than marked `unknown` for our own fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Interval, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import LeadImported, LeadValidated, subjects
from contracts.commands import GetValidationStatus, ValidationStatusReply
from contracts.events import LeadsRemoved
from services.runtime.outbox import add_to_outbox
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.validator.domain import Reason, Result, parse_retry_schedule
from services.validator.tables import metadata, outbox, validations
from services.validator.verifier import Verifier

log = structlog.get_logger(__name__)

VALIDATED_NAMESPACE = uuid.UUID("0c6f3b1e-8d2a-4f51-9c77-3a5e2b9d1f04")
# Leads one worker loop claims and verifies together (grouped by domain: one SMTP session per domain).
BATCH = 500
WORKERS = 4
# A claimed batch not recorded within this long (a crashed worker) is claimed again.
LEASE = timedelta(minutes=15)
POLL_SECONDS = 1.0
# Answers that are not final on a first pass: probed again on the greylisting schedule.
RETRIED = frozenset({Reason.GREYLISTED, Reason.MX_UNREACHABLE, Reason.SMTP_TIMEOUT, Reason.TEMPORARY_FAILURE})


def validated_event_id(lead_id: uuid.UUID) -> uuid.UUID:
    """Deterministic: a lead recorded twice (a worker that crashed after committing) emits one event."""
    return uuid.uuid5(VALIDATED_NAMESPACE, str(lead_id))


@dataclass(frozen=True)
class Claimed:
    lead_id: uuid.UUID
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    email: str
    attempts: int
    # The claim's `locked_until`: one value per claiming transaction, so it also tells this claim from a
    # later one of the same lead (after this worker's lease ran out).
    token: datetime


class ValidationRunner:
    def __init__(self, service: Service, verifier: Verifier, settings: Settings) -> None:
        self.service = service
        self.verifier = verifier
        self.retry_schedule = parse_retry_schedule(settings.validator_greylist_retry_seconds)
        self.held_retry = timedelta(seconds=settings.validator_held_retry_seconds)
        self._wake = asyncio.Event()

    async def start(self) -> None:
        for n in range(WORKERS):
            self.service.spawn(self._work_forever(), f"validator-worker-{n}")

    def wake(self) -> None:
        self._wake.set()

    async def _work_forever(self) -> None:
        while True:
            try:
                if await self.run_once():
                    continue
            except Exception as exc:
                log.warning("validation pass failed; retrying", error=repr(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def run_once(self) -> int:
        """Claim, verify and record one batch of due leads; returns how many were claimed."""
        claimed = await self._claim()
        if not claimed:
            return 0
        try:
            results = await self.verifier.verify_many([c.email for c in claimed])
            await self._record(claimed, results)
        except BaseException:
            # Hand the batch back at once rather than when its lease runs out.
            with contextlib.suppress(Exception):
                await self._release(claimed)
            raise
        return len(claimed)

    async def _release(self, claimed: list[Claimed]) -> None:
        async with self.service.sessions() as session, session.begin():
            await session.execute(
                update(validations)
                .where(
                    validations.c.lead_id.in_([c.lead_id for c in claimed]), validations.c.state == "probing"
                )
                .values(state="queued", locked_until=None)
            )

    async def _claim(self) -> list[Claimed]:
        due = (
            select(validations.c.lead_id)
            .where(
                validations.c.state != "done",
                validations.c.next_attempt_at <= func.now(),
                or_(validations.c.state == "queued", validations.c.locked_until < func.now()),
            )
            .order_by(validations.c.next_attempt_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        async with self.service.sessions() as session, session.begin():
            rows = await session.execute(
                update(validations)
                .where(validations.c.lead_id.in_(due.scalar_subquery()))
                .values(state="probing", locked_until=func.now() + LEASE)
                .returning(
                    validations.c.lead_id,
                    validations.c.workspace_id,
                    validations.c.campaign_id,
                    validations.c.email,
                    validations.c.attempts,
                    validations.c.locked_until,
                )
            )
            return [Claimed(*row) for row in rows]

    async def _record(self, claimed: list[Claimed], results: list[Result]) -> None:
        async with self.service.sessions() as session, session.begin():
            # Only leads this claim still owns: a lead whose lease ran out may have been claimed again
            # (and even recorded) by another worker meanwhile; its result is that worker's to record.
            owned = set(
                await session.scalars(
                    select(validations.c.lead_id)
                    .where(
                        validations.c.lead_id.in_([c.lead_id for c in claimed]),
                        validations.c.state == "probing",
                        validations.c.locked_until == claimed[0].token,
                    )
                    .with_for_update()
                )
            )
            pairs = [
                (lead, result) for lead, result in zip(claimed, results, strict=True) if lead.lead_id in owned
            ]
            await self._store(session, pairs)

    async def _store(self, session: AsyncSession, pairs: list[tuple[Claimed, Result]]) -> None:
        done: list[dict[str, Any]] = []
        again: list[dict[str, Any]] = []
        events: list[LeadValidated] = []
        for lead, result in pairs:
            if result.reason == Reason.PROBER_BLOCKED:
                again.append(
                    {"lid": lead.lead_id, "attempts": lead.attempts, "held": True, "wait": self.held_retry}
                )
            elif result.reason in RETRIED and lead.attempts < len(self.retry_schedule):
                wait = timedelta(seconds=self.retry_schedule[lead.attempts])
                again.append(
                    {"lid": lead.lead_id, "attempts": lead.attempts + 1, "held": False, "wait": wait}
                )
            else:
                done.append(
                    {
                        "lid": lead.lead_id,
                        "verdict": result.verdict.value,
                        "reason": result.reason.value,
                        "mx": result.mx,
                        "smtp_code": result.smtp_code,
                        "catch_all": result.catch_all,
                        "disposable": result.disposable,
                        "role": result.role,
                    }
                )
                events.append(
                    LeadValidated(
                        event_id=validated_event_id(lead.lead_id),
                        workspace_id=lead.workspace_id,
                        campaign_id=lead.campaign_id,
                        lead_id=lead.lead_id,
                        email=lead.email,
                        verdict=result.verdict,
                        reason=result.reason.value,
                        mx=result.mx,
                        smtp_code=result.smtp_code,
                        catch_all=result.catch_all,
                        disposable=result.disposable,
                        role=result.role,
                    )
                )
        probing = and_(validations.c.lead_id == bindparam("lid"), validations.c.state == "probing")
        if done:
            await session.execute(
                update(validations)
                .where(probing)
                .values(
                    state="done",
                    held=False,
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
                done,
                execution_options={"synchronize_session": False},
            )
            await add_to_outbox(session, outbox, events)
        if again:
            await session.execute(
                update(validations)
                .where(probing)
                .values(
                    state="queued",
                    locked_until=None,
                    attempts=bindparam("attempts"),
                    held=bindparam("held"),
                    next_attempt_at=func.now() + bindparam("wait", type_=Interval),
                ),
                again,
                execution_options={"synchronize_session": False},
            )
        if again:
            log.info(
                "leads queued for a later pass", count=len(again), held=sum(1 for a in again if a["held"])
            )

    async def status(
        self, session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID
    ) -> tuple[int, int]:
        row = (
            await session.execute(
                select(
                    func.count().filter(validations.c.state != "done"),
                    func.count().filter(and_(validations.c.state != "done", validations.c.held)),
                ).where(validations.c.workspace_id == workspace_id, validations.c.campaign_id == campaign_id)
            )
        ).one()
        return int(row[0]), int(row[1])


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    service = Service(name="validator", metadata=metadata, settings=settings, for_docs=for_docs)
    service.emits(LeadValidated)
    runner = ValidationRunner(service, Verifier.from_settings(settings, single_pass=True), settings)

    async def queue_imported(session: AsyncSession, event: LeadImported) -> None:
        await session.execute(
            insert(validations)
            .values(
                [
                    {
                        "lead_id": lead.lead_id,
                        "workspace_id": event.workspace_id,
                        "campaign_id": event.campaign_id,
                        "email": lead.email,
                    }
                    for lead in event.leads
                ]
            )
            .on_conflict_do_nothing(index_elements=["lead_id"])
        )
        # Woken a moment early (before this transaction commits) is harmless: the worker polls anyway.
        runner.wake()

    service.consume("lead_imported", queue_imported, durable="validator")

    async def forget_removed(session: AsyncSession, event: LeadsRemoved) -> None:
        """Removed leads are not verified any more: their queued (or retried, or held) validations go.

        A lead being probed right now goes too: its worker records only rows it still owns, so the result
        is dropped and no LeadValidated is sent. Finished validations go with them: nothing reads them for
        a lead that no longer exists.
        """
        await session.execute(
            delete(validations).where(
                validations.c.lead_id.in_(event.lead_ids),
                validations.c.workspace_id == event.workspace_id,
                validations.c.campaign_id == event.campaign_id,
            )
        )

    service.consume("leads_removed", forget_removed, durable="validator-removals")

    @service.broker.subscriber(
        subjects.command_subject("validator", "validation_status"),
        queue="validator",
        title="validator.validation_status",
        description="Leads of a campaign still queued for verification, and whether the prober is degraded.",
    )
    async def validation_status(cmd: GetValidationStatus) -> ValidationStatusReply:
        async with service.sessions() as session:
            queued, held = await runner.status(session, cmd.workspace_id, cmd.campaign_id)
        return ValidationStatusReply(queued=queued, held=held, degraded=runner.verifier.degraded)

    def prober_health() -> str | None:
        if runner.verifier.degraded:
            return "degraded: SMTP probes fail across many unrelated domains (port 25 blocked or the prober listed?)"
        return None

    service.readiness_checks.append(prober_health)
    service.on_startup(runner.start)
    return service
