"""A campaign's email verification: how far it has got, and running it again (after a resolver was fixed)."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException, Request, status
from pydantic import ValidationError

from contracts.commands import (
    GetValidationStatus,
    RerunValidation,
    ValidationRerunReply,
    ValidationStatusReply,
    unknown_reasons,
)
from services.gateway.campaigns.queries import campaign_or_404
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import (
    API_RESPONSES,
    JSON_BODY,
    NO_SUCH_CAMPAIGN,
    CommandRefused,
    invalid,
    problem,
)
from services.gateway.validation.queries import validation_counts
from services.gateway.validation.schemas import RerunIn, RerunOut, ValidationSummary, ValidatorStatus
from services.runtime.service import Service

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)

# The validator's queue is a nice-to-have next to the counts: never hold the summary for the full request
# timeout when the validator is down or busy.
VALIDATOR_STATUS_TIMEOUT_SECONDS = 2.0


async def _validator_status(service: Service, workspace_id: UUID, campaign_id: UUID) -> ValidatorStatus:
    """The validator's queue for the campaign; its silence (or a refusal) is `unavailable`, never an error."""
    try:
        reply = await ask(
            service,
            "validation_status",
            "validator",
            GetValidationStatus(workspace_id=workspace_id, campaign_id=campaign_id),
            ValidationStatusReply,
            reply_within=VALIDATOR_STATUS_TIMEOUT_SECONDS,
        )
    except (CommandRefused, ValidationError):
        return ValidatorStatus(state="unavailable", queued=None, held=None)
    return ValidatorStatus(
        state="degraded" if reply.degraded else "ok",
        queued=reply.queued,
        held=reply.held,
        reason=reply.reason if reply.degraded else None,
    )


@router.get(
    "/campaigns/{campaign_id}/validation",
    response_model=ValidationSummary,
    tags=["campaigns"],
    responses=NO_SUCH_CAMPAIGN,
)
async def validation_summary(
    campaign_id: UUID, workspace_id: Workspace, session: Session, request: Request
) -> ValidationSummary:
    """Email verification progress of a campaign's leads, so a client can wait for it before activating.

    The counts come from the read model and are always answered; the `validator` part asks the validator
    service and is `unavailable` when it does not answer within about 2 seconds.
    """
    await campaign_or_404(session, workspace_id, campaign_id)
    # Both at once: the validator's (short) wait should not add to the query's.
    counts, validator = await asyncio.gather(
        validation_counts(session, workspace_id, campaign_id),
        _validator_status(service_of(request), workspace_id, campaign_id),
    )
    total = int(counts.total)
    validated = int(counts.validated)
    percent = math.floor(validated * 1000 / total) / 10 if total else 100.0
    return ValidationSummary(
        campaign_id=campaign_id,
        total=total,
        validated=validated,
        in_progress=int(counts.in_progress),
        valid=int(counts.valid),
        invalid=int(counts.invalid),
        unknown=int(counts.unknown),
        percent=percent,
        reasons={str(k): int(v) for k, v in (counts.reasons or {}).items()},
        validator=validator,
    )


@router.post(
    "/campaigns/{campaign_id}/validation/rerun",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RerunOut,
    tags=["campaigns"],
    responses={
        **NO_SUCH_CAMPAIGN,
        **JSON_BODY,
        422: invalid("An unknown reason code; the message lists the valid ones."),
        503: problem("The validator did not answer; try again shortly."),
    },
)
async def rerun_validation(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    body: Annotated[RerunIn | None, Body()] = None,
) -> RerunOut:
    """Verify a campaign's leads again, e.g. those found `no_such_domain` while a resolver was broken.

    Each lead re-queued gets a new run; its new verdict replaces the old one, and a lead that was Invalid
    only because of its verdict returns to Pending when the new run finds it valid or unknown. Both
    verdicts stay in the lead's timeline.
    """
    await campaign_or_404(session, workspace_id, campaign_id)
    reasons = body.reasons if body is not None else []
    problem = unknown_reasons(reasons)
    if problem is not None:
        raise HTTPException(422, problem)
    reply = await ask(
        service_of(request),
        "rerun_validation",
        "validator",
        RerunValidation(workspace_id=workspace_id, campaign_id=campaign_id, reasons=reasons),
        ValidationRerunReply,
    )
    return RerunOut(queued=reply.queued)
