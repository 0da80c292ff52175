"""Re-running a campaign's email verification (after a resolver was fixed, say)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException, Request, status
from pydantic import BaseModel, Field

from contracts.commands import (
    VERDICT_REASONS,
    RerunValidation,
    ValidationRerunReply,
    unknown_reasons,
)
from contracts.text import Text
from services.gateway.campaigns_api import campaign_or_404
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, JSON_BODY, NO_SUCH_CAMPAIGN, invalid, problem

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)


class RerunIn(BaseModel):
    model_config = {"extra": "forbid"}

    reasons: list[Text] = Field(
        default_factory=list,
        max_length=100,
        description="Re-verify only leads whose verdict has one of these reason codes (`no_such_domain`, "
        f"`dns_timeout`, …; valid: {', '.join(VERDICT_REASONS)}). Omitted or empty: every verified lead.",
        examples=[["no_such_domain", "no_mail_server", "dns_timeout"]],
    )


class RerunOut(BaseModel):
    queued: int = Field(
        description="Leads queued for another verification. Leads still queued or being verified are not "
        "counted (nor queued twice), so repeating the request at once queues 0."
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
