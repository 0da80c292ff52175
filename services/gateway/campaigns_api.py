"""Campaigns and their leads. Every route is scoped to the caller's workspace: other ids are 404."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import BigInteger, ColumnElement, and_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import (
    CampaignCreatedReply,
    CreateCampaign,
    GetValidationStatus,
    ValidationStatusReply,
)
from contracts.text import Text
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import (
    API_RESPONSES,
    JSON_BODY,
    NO_SUCH_CAMPAIGN,
    CommandRefused,
    problem,
)
from services.gateway.leads.queries import count_leads
from services.gateway.leads.schemas import LeadFilter
from services.gateway.projection.consumer import upsert_campaign
from services.gateway.projection.imports import arriving_leads
from services.gateway.tables import campaigns, lead_counts, workspaces
from services.runtime.service import Service

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)


class WorkspaceOut(BaseModel):
    id: UUID
    name: str


@router.get("/workspace", response_model=WorkspaceOut, tags=["workspace"])
async def current_workspace_info(workspace_id: Workspace, session: Session) -> WorkspaceOut:
    """The workspace the API key belongs to."""
    row = (await session.execute(select(workspaces).where(workspaces.c.id == workspace_id))).one()
    return WorkspaceOut(id=row.id, name=row.name)


# --- campaigns -------------------------------------------------------------------------------------------


class CampaignIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)


class CampaignOut(BaseModel):
    id: UUID
    name: str
    created_at: datetime
    leads: int = 0
    arriving: int = Field(
        default=0,
        description="Leads of the campaign's finished imports not listed yet: the importer has imported "
        "them and they are on their way to the list (seconds, more behind a large import). Never negative.",
    )


async def campaign_or_404(session: AsyncSession, workspace_id: UUID, campaign_id: UUID) -> Any:
    row = (
        await session.execute(
            select(campaigns).where(campaigns.c.id == campaign_id, campaigns.c.workspace_id == workspace_id)
        )
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such campaign.")
    return row


@router.post(
    "/campaigns",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignOut,
    tags=["campaigns"],
    responses={**JSON_BODY, 409: problem("The sequencer refused to create the campaign.")},
)
async def create_campaign(
    body: CampaignIn, workspace_id: Workspace, session: Session, request: Request
) -> CampaignOut:
    service = service_of(request)
    reply = await ask(
        service,
        "create_campaign",
        "sequencer",
        CreateCampaign(workspace_id=workspace_id, campaign_id=uuid4(), name=body.name),
        CampaignCreatedReply,
    )
    # The sequencer's CampaignCreated event fills this view too; writing it now lets the caller use the
    # campaign the moment it gets the 201.
    await upsert_campaign(session, reply.campaign_id, workspace_id, body.name)
    await session.commit()
    return CampaignOut(id=reply.campaign_id, name=body.name, created_at=reply.created_at)


@router.get("/campaigns", response_model=list[CampaignOut], tags=["campaigns"])
async def list_campaigns(workspace_id: Workspace, session: Session) -> list[CampaignOut]:
    # From the trigger-kept count log, not count(*): a campaign of a million leads lists as fast as one of ten.
    counts = (
        select(lead_counts.c.campaign_id, cast(func.sum(lead_counts.c.n), BigInteger).label("n"))
        .where(lead_counts.c.workspace_id == workspace_id)
        .group_by(lead_counts.c.campaign_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(campaigns, func.coalesce(counts.c.n, 0).label("leads"))
            .outerjoin(counts, counts.c.campaign_id == campaigns.c.id)
            .where(campaigns.c.workspace_id == workspace_id)
            .order_by(campaigns.c.created_at.desc())
        )
    ).all()
    arriving = await arriving_leads(session, workspace_id, [r.id for r in rows])
    return [
        CampaignOut(
            id=r.id, name=r.name, created_at=r.created_at, leads=r.leads, arriving=arriving.get(r.id, 0)
        )
        for r in rows
    ]


@router.get(
    "/campaigns/{campaign_id}", response_model=CampaignOut, tags=["campaigns"], responses=NO_SUCH_CAMPAIGN
)
async def get_campaign(campaign_id: UUID, workspace_id: Workspace, session: Session) -> CampaignOut:
    row = await campaign_or_404(session, workspace_id, campaign_id)
    total = await count_leads(session, workspace_id, campaign_id, LeadFilter())
    arriving = await arriving_leads(session, workspace_id, [campaign_id])
    return CampaignOut(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        leads=total.value,
        arriving=arriving.get(campaign_id, 0),
    )


# --- validation summary ----------------------------------------------------------------------------------

# The validator's queue is a nice-to-have next to the counts: never hold the summary for the full request
# timeout when the validator is down or busy.
VALIDATOR_STATUS_TIMEOUT_SECONDS = 2.0

ValidatorState = Literal["ok", "degraded", "unavailable"]
ValidationValue = Literal["pending", "valid", "invalid", "unknown"]


class ValidatorStatus(BaseModel):
    state: ValidatorState = Field(
        description="`ok`: the validator answered and is verifying; `degraded`: it answered but cannot "
        "trust its own checks — its DNS resolver fails for well-known mail domains, or its SMTP prober "
        "looks blocked — so the leads that depend on them wait in `held` rather than getting a verdict "
        "for the validator's fault; `unavailable`: it did not answer within about 2 s (the counts are "
        "still current)."
    )
    queued: int | None = Field(
        description="Leads of the campaign waiting for a verification pass; null when `unavailable`."
    )
    held: int | None = Field(
        description="Of `queued`, leads held back while the validator is degraded; null when `unavailable`."
    )
    reason: str | None = Field(
        default=None,
        description='Why the validator is `degraded`, in words to show a user: "DNS resolver '
        'unreachable", "resolver answers NXDOMAIN for known domains", "SMTP probes fail across many '
        'unrelated domains …" (several joined by "; "); null otherwise.',
    )


class ValidationSummary(BaseModel):
    """How far email verification of a campaign's leads has got: wait for it before activating."""

    campaign_id: UUID
    total: int = Field(description="Leads in the campaign.")
    validated: int = Field(description="Leads with a verdict (`valid` + `invalid` + `unknown`).")
    in_progress: int = Field(description="Leads whose `validation` is still `pending`.")
    valid: int = Field(description="Leads whose address accepted mail.")
    invalid: int = Field(description="Leads whose address was rejected; their status is `invalid`.")
    unknown: int = Field(description="Leads the validator could not decide on (catch-all, greylisting, …).")
    percent: float = Field(
        description="validated / total * 100, rounded down to one decimal so 100 means all are done; "
        "100 for a campaign without leads."
    )
    reasons: dict[str, int] = Field(
        description="Validated leads by the validator's reason code (`accepted`, `mailbox_not_found`, "
        "`catch_all`, `greylisted`, …)."
    )
    validator: ValidatorStatus


async def _validation_counts(session: AsyncSession, workspace_id: UUID, campaign_id: UUID) -> Any:
    """Every count in one statement over `lead_counts` (kept by triggers on lead_view): a few hundred rows
    whatever the campaign's size, where aggregating lead_view took ~300 ms at a million leads."""
    scope = and_(lead_counts.c.campaign_id == campaign_id, lead_counts.c.workspace_id == workspace_id)
    n = lead_counts.c.n
    pending = lead_counts.c.validation == "pending"
    by_reason = (
        select(lead_counts.c.validation_reason.label("reason"), func.sum(n).label("n"))
        .where(scope, ~pending, lead_counts.c.validation_reason.is_not(None))
        .group_by(lead_counts.c.validation_reason)
        .having(func.sum(n) != 0)
        .subquery("by_reason")
    )
    reasons = select(
        func.coalesce(
            func.jsonb_object_agg(by_reason.c.reason, by_reason.c.n, type_=JSONB),
            literal({}, JSONB),
        )
    ).scalar_subquery()

    def total(*where: ColumnElement[bool]) -> ColumnElement[Any]:
        summed = func.sum(n).filter(*where) if where else func.sum(n)
        return func.coalesce(summed, 0)

    statement = select(
        total().label("total"),
        total(~pending).label("validated"),
        total(pending).label("in_progress"),
        total(lead_counts.c.validation == "valid").label("valid"),
        total(lead_counts.c.validation == "invalid").label("invalid"),
        total(lead_counts.c.validation == "unknown").label("unknown"),
        reasons.label("reasons"),
    ).where(scope)
    return (await session.execute(statement)).one()


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
        _validation_counts(session, workspace_id, campaign_id),
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
