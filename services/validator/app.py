"""Wiring of the validator service: every imported lead is verified in the background, by itself.

Consumers (handlers.py): LeadImported queues the batch's leads, LeadsRemoved forgets them. The runner
(runner.py) verifies them and announces the verdicts (`LeadsValidated`). Commands: a campaign's queue and
the validator's health (`validation_status`), and a re-run of a campaign's verified leads
(`rerun_validation`).
"""

from __future__ import annotations

from contracts.events import LeadsValidated
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.validator.handlers import Handlers
from services.validator.runner import ValidationRunner
from services.validator.tables import metadata
from services.validator.verifier import Verifier


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    service = Service(name="validator", metadata=metadata, settings=settings, for_docs=for_docs)
    service.emits(LeadsValidated)
    runner = ValidationRunner(service, Verifier.from_settings(settings, single_pass=True), settings)
    handlers = Handlers(runner)

    service.consume("lead_imported", handlers.on_lead_imported, durable="validator")
    service.consume("leads_removed", handlers.on_leads_removed, durable="validator-removals")
    service.answers(
        "validation_status",
        "Leads of a campaign still queued for verification, and whether (and why) the validator is degraded.",
    )(handlers.validation_status)
    service.answers(
        "rerun_validation",
        "Verify a campaign's verified leads again (those with the given reason codes, or "
        "all); each gets the next run number.",
    )(handlers.rerun_validation)

    service.readiness_checks.append(handlers.health)
    service.on_startup(runner.start)
    return service
