"""Campaigns and their leads. Every route is scoped to the caller's workspace: other ids are 404."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import BigInteger, ColumnElement, and_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import LeadStatus
from contracts.commands import (
    CampaignCreatedReply,
    CreateCampaign,
    GetValidationStatus,
    ValidationStatusReply,
)
from contracts.text import Text, is_safe_text
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import (
    API_RESPONSES,
    JSON_BODY,
    NO_SUCH_CAMPAIGN,
    CommandRefused,
    invalid,
    problem,
)
from services.gateway.leads_query import (
    Keyset,
    LeadFilter,
    LeadSort,
    count_leads,
    is_datetime_sort,
    lead_filter_params,
    nullable_sort,
    page_conditions,
    page_segments,
    sort_value,
)
from services.gateway.projection.consumer import upsert_campaign
from services.gateway.projection.imports import arriving_leads
from services.gateway.tables import campaigns, lead_counts, lead_events, lead_view, workspaces
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor
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


# --- leads -----------------------------------------------------------------------------------------------


class LeadOut(BaseModel):
    id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    company_name: str | None
    status: LeadStatus
    step: int
    total_steps: int
    validation: str = Field(
        description="`pending` until the validator decides: `valid`, `invalid`, `unknown`"
    )
    validation_reason: str | None = Field(
        description="The validator's reason code (`accepted`, `mailbox_not_found`, `catch_all`, …)"
    )
    last_activity_at: datetime | None
    import_id: UUID | None


class LeadPage(BaseModel):
    items: list[LeadOut]
    total: int = Field(
        description="Leads matching the filter (all pages). Exact unless `total_is_estimate` is true."
    )
    total_is_estimate: bool = Field(
        default=False,
        description="True only for a search (`q`) matching more than 5,000 leads: `total` is then an "
        "estimate (never below 5,001), so counting does not slow every page of a broad search.",
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same `sort`) for the next page; null on the last page."
    )
    arriving: int = Field(
        default=0,
        description="Whatever the filter, leads of the campaign's finished imports not listed yet: the importer has imported "
        "them and they are on their way to the list (seconds, more behind a large import). Never negative.",
    )


# Newest first is what a person opening the table expects to see.
DEFAULT_SORT: LeadSort = "-last_activity"


def _encode_cursor(sort: LeadSort | None, after: Keyset) -> str:
    """Opaque to clients: the sort it belongs to and the last row's (sort value, seq)."""
    value = after.value.isoformat() if isinstance(after.value, datetime) else after.value
    return encode_cursor([sort or "", value, after.seq])


def _in_arrival_order(cursor: str) -> bool:
    """A cursor of arrival order, the default before `-last_activity` was: such pages continue as they
    began (a client that stored one is not sent back to the first page of another order)."""
    try:
        decoded = decode_cursor(cursor)
    except InvalidCursor:
        return False
    return type(decoded) is int or (isinstance(decoded, list) and len(decoded) == 3 and decoded[0] == "")


def _decode_cursor(cursor: str, sort: LeadSort | None) -> Keyset:
    """The position a cursor holds, checked against the request's sort; 422 for anything else."""
    invalid = HTTPException(422, "`cursor` is not one this API returned for this `sort`.")
    try:
        decoded = decode_cursor(cursor)
    except InvalidCursor as exc:
        raise invalid from exc
    if type(decoded) is int:  # cursors from before sorting: the seq of arrival order
        if sort is not None or not 0 <= decoded < 2**63:
            raise invalid
        return Keyset(None, decoded)
    if not (isinstance(decoded, list) and len(decoded) == 3 and type(decoded[2]) is int):
        raise invalid
    cursor_sort, value, seq = decoded
    if cursor_sort != (sort or "") or not 0 <= seq < 2**63:
        raise invalid
    if value is None:  # arrival order carries no value; a NULL company or activity is None too
        if sort is not None and not nullable_sort(sort):
            raise invalid
        return Keyset(None, seq)
    if sort is None or not isinstance(value, str) or not is_safe_text(value):
        raise invalid
    if not is_datetime_sort(sort):
        return Keyset(value, seq)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise invalid from exc
    if moment.tzinfo is None:
        raise invalid
    return Keyset(moment, seq)


@router.get(
    "/campaigns/{campaign_id}/leads",
    response_model=LeadPage,
    tags=["leads"],
    responses={
        **NO_SUCH_CAMPAIGN,
        422: invalid("An invalid parameter, `sort`, or a `cursor` not returned for this `sort`."),
    },
)
async def list_leads(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    lead_filter: Annotated[LeadFilter, Depends(lead_filter_params)],
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Page size; the web UI offers 25, 50 and 100.")
    ] = 50,
    cursor: Annotated[
        Text | None, Query(description="`next_cursor` of the previous page (same `sort` and filter).")
    ] = None,
    sort: Annotated[
        LeadSort | None,
        Query(
            description="`last_activity`, `company`, `name` (surname, then first name), `email` or "
            "`status`; a leading `-` sorts descending. Company and name sort in Czech alphabetical order "
            "(č after c, ch after h). Leads without a company, name or activity come last either way; ties "
            "go by arrival. Default: `-last_activity`, the most recent activity first."
        ),
    ] = None,
) -> LeadPage:
    """A page of a campaign's leads, with the total for the filter.

    Paging is by keyset, never OFFSET: the cursor holds the last row's (sort value, arrival seq), so a deep
    page costs what the first does, and leads added while a client pages never shift or repeat the rows
    of later pages.
    """
    await campaign_or_404(session, workspace_id, campaign_id)
    if sort is None and not (cursor and _in_arrival_order(cursor)):
        sort = DEFAULT_SORT
    after = _decode_cursor(cursor, sort) if cursor else None
    total = await count_leads(session, workspace_id, campaign_id, lead_filter)
    filters = page_conditions(workspace_id, campaign_id, lead_filter, total)
    rows: list[Any] = []
    for segment in page_segments(sort, after):
        wanted = limit + 1 - len(rows)
        if wanted <= 0:
            break
        statement = (
            select(lead_view, *([segment.key] if segment.key is not None else []))
            .select_from(segment.source)
            .where(and_(*filters, *segment.conditions))
            .order_by(*segment.order_by)
            .limit(wanted)
        )
        rows.extend((await session.execute(statement)).all())
    items = [LeadOut.model_validate(row, from_attributes=True) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(sort, Keyset(sort_value(sort, last), last.seq))
    arriving = await arriving_leads(session, workspace_id, [campaign_id])
    return LeadPage(
        items=items,
        total=total.value,
        total_is_estimate=total.is_estimate,
        next_cursor=next_cursor,
        arriving=arriving.get(campaign_id, 0),
    )


class TimelineEntry(BaseModel):
    at: datetime = Field(description="When it happened (the event's time).")
    type: str = Field(
        description="The event type: `lead_imported`, `lead_validated`, `lead_status_changed`, …"
    )
    source: str = Field(
        description="The service that emitted it: importer, validator, gateway, mailer, inbox, …"
    )
    summary: dict[str, Any] = Field(
        description="The event's own fields (verdict and reason, new status and who set it, …)."
    )


class LeadDetail(LeadOut):
    campaign_id: UUID
    phone: str | None
    website: str | None
    city: str | None
    industry: str | None
    custom: dict[str, str]
    created_at: datetime
    timeline: list[TimelineEntry] = Field(description="Every event that touched the lead, oldest first.")


@router.get(
    "/leads/{lead_id}",
    response_model=LeadDetail,
    tags=["leads"],
    responses={404: problem("No such lead in this workspace.")},
)
async def get_lead(lead_id: UUID, workspace_id: Workspace, session: Session) -> LeadDetail:
    row = (
        await session.execute(
            select(lead_view).where(lead_view.c.id == lead_id, lead_view.c.workspace_id == workspace_id)
        )
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such lead.")
    events = (
        await session.execute(
            select(
                lead_events.c.occurred_at, lead_events.c.event_type, lead_events.c.source, lead_events.c.data
            )
            .where(lead_events.c.lead_id == lead_id, lead_events.c.workspace_id == workspace_id)
            .order_by(lead_events.c.occurred_at, lead_events.c.id)
        )
    ).all()
    timeline = [
        TimelineEntry(at=at, type=kind, source=source, summary=data) for at, kind, source, data in events
    ]
    return LeadDetail.model_validate({**row._mapping, "timeline": timeline})
