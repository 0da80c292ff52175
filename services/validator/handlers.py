"""The validator's handlers: the events it consumes and the commands it answers, each one thin.

On LeadImported it only queues the batch's leads (one row per lead, keyed by lead id, in the consumer's
transaction: a redelivered LeadImported queues nothing); the runner (runner.py) verifies them and
announces the verdicts in batches (`LeadsValidated`).
"""

from __future__ import annotations

from contracts import LeadImported
from contracts.commands import (
    GetValidationStatus,
    RerunValidation,
    ValidationRerunReply,
    ValidationStatusReply,
    unknown_reasons,
)
from contracts.events import LeadsRemoved
from contracts.replies import Refusal
from services.runtime.unit_of_work import UnitOfWork
from services.validator.repository import ValidationRepository
from services.validator.runner import ValidationRunner


class Handlers:
    def __init__(self, runner: ValidationRunner) -> None:
        self.runner = runner

    async def on_lead_imported(self, uow: UnitOfWork, event: LeadImported) -> None:
        await ValidationRepository.from_session(uow.session).queue_imported(
            event.workspace_id, event.campaign_id, event.leads
        )
        # Woken a moment early (before this transaction commits) is harmless: the worker polls anyway.
        self.runner.wake()

    async def on_leads_removed(self, uow: UnitOfWork, event: LeadsRemoved) -> None:
        """Removed leads are not verified any more: their queued (or retried, or held) validations go.

        A lead being probed right now goes too: its worker records only rows it still owns, so the result
        is dropped and no verdict is sent. Finished validations go with them: nothing reads them for a
        lead that no longer exists.
        """
        await ValidationRepository.from_session(uow.session).forget(
            event.workspace_id, event.campaign_id, event.lead_ids
        )

    async def validation_status(self, cmd: GetValidationStatus) -> ValidationStatusReply:
        queued, held = await self.runner.status(cmd.workspace_id, cmd.campaign_id)
        problems = self.runner.problems()
        return ValidationStatusReply(
            queued=queued, held=held, degraded=bool(problems), reason="; ".join(problems) or None
        )

    async def rerun_validation(self, cmd: RerunValidation) -> ValidationRerunReply | Refusal:
        problem = unknown_reasons(cmd.reasons)
        if problem is not None:
            return Refusal.invalid(problem)
        return ValidationRerunReply(
            queued=await self.runner.rerun(cmd.workspace_id, cmd.campaign_id, sorted(set(cmd.reasons)))
        )

    def health(self) -> str | None:
        problems = self.runner.problems()
        return f"degraded: {'; '.join(problems)}" if problems else None
