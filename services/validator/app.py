"""Wiring of the validator service: every imported lead is verified in the background, by itself.

On LeadImported the consumer only queues the batch's leads (one row per lead, keyed by lead id, in the
consumer's transaction: a redelivered LeadImported queues nothing); the runner (runner.py) verifies them
and announces the verdicts in batches (`LeadsValidated`). Commands: a campaign's queue and the validator's
health (`validation_status`), and a re-run of a campaign's verified leads (`rerun_validation`).
"""

from __future__ import annotations

from contracts import LeadImported, subjects
from contracts.commands import (
    GetValidationStatus,
    RerunValidation,
    ValidationRerunReply,
    ValidationStatusReply,
    unknown_reasons,
)
from contracts.events import LeadsRemoved, LeadsValidated
from contracts.replies import Refusal
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork
from services.validator.repository import ValidationRepository
from services.validator.runner import ValidationRunner
from services.validator.tables import metadata
from services.validator.verifier import Verifier


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    service = Service(name="validator", metadata=metadata, settings=settings, for_docs=for_docs)
    service.emits(LeadsValidated)
    runner = ValidationRunner(service, Verifier.from_settings(settings, single_pass=True), settings)

    async def queue_imported(uow: UnitOfWork, event: LeadImported) -> None:
        await ValidationRepository.from_session(uow.session).queue_imported(
            event.workspace_id, event.campaign_id, event.leads
        )
        # Woken a moment early (before this transaction commits) is harmless: the worker polls anyway.
        runner.wake()

    service.consume("lead_imported", queue_imported, durable="validator")

    async def forget_removed(uow: UnitOfWork, event: LeadsRemoved) -> None:
        """Removed leads are not verified any more: their queued (or retried, or held) validations go.

        A lead being probed right now goes too: its worker records only rows it still owns, so the result
        is dropped and no verdict is sent. Finished validations go with them: nothing reads them for a
        lead that no longer exists.
        """
        await ValidationRepository.from_session(uow.session).forget(
            event.workspace_id, event.campaign_id, event.lead_ids
        )

    service.consume("leads_removed", forget_removed, durable="validator-removals")

    @service.broker.subscriber(
        subjects.command_subject("validator", "validation_status"),
        queue="validator",
        title="validator.validation_status",
        description="Leads of a campaign still queued for verification, and whether (and why) the "
        "validator is degraded.",
    )
    async def validation_status(cmd: GetValidationStatus) -> ValidationStatusReply:
        queued, held = await runner.status(cmd.workspace_id, cmd.campaign_id)
        problems = runner.problems()
        return ValidationStatusReply(
            queued=queued, held=held, degraded=bool(problems), reason="; ".join(problems) or None
        )

    @service.broker.subscriber(
        subjects.command_subject("validator", "rerun_validation"),
        queue="validator",
        title="validator.rerun_validation",
        description="Verify a campaign's verified leads again (those with the given reason codes, or "
        "all); each gets the next run number.",
    )
    async def rerun_validation(cmd: RerunValidation) -> ValidationRerunReply | Refusal:
        problem = unknown_reasons(cmd.reasons)
        if problem is not None:
            return Refusal.invalid(problem)
        return ValidationRerunReply(
            queued=await runner.rerun(cmd.workspace_id, cmd.campaign_id, sorted(set(cmd.reasons)))
        )

    def health() -> str | None:
        problems = runner.problems()
        return f"degraded: {'; '.join(problems)}" if problems else None

    service.readiness_checks.append(health)
    service.on_startup(runner.start)
    return service
