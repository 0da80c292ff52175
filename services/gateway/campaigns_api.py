"""Campaigns and their leads. Every route is scoped to the caller's workspace: other ids are 404."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import LeadStatus
from contracts.commands import (
    CampaignCreatedReply,
    CreateCampaign,
)
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.projection import upsert_campaign
from services.gateway.tables import campaigns, lead_view, workspaces

router = APIRouter(prefix="/api/v1")


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
    name: str = Field(min_length=1, max_length=200)


class CampaignOut(BaseModel):
    id: UUID
    name: str
    created_at: datetime
    leads: int = 0


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
    "/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignOut, tags=["campaigns"]
)
async def create_campaign(
    body: CampaignIn, workspace_id: Workspace, session: Session, request: Request
) -> CampaignOut:
    service = service_of(request)
    reply: CampaignCreatedReply = await ask(
        service,
        "create_campaign",
        "sequencer",
        CreateCampaign(workspace_id=workspace_id, campaign_id=uuid4(), name=body.name),
        CampaignCreatedReply,
    )
    if reply.error or reply.campaign_id is None or reply.created_at is None:
        raise HTTPException(status.HTTP_409_CONFLICT, reply.error or "The campaign could not be created.")
    # The sequencer's CampaignCreated event fills this view too; writing it now lets the caller use the
    # campaign the moment it gets the 201.
    await upsert_campaign(session, reply.campaign_id, workspace_id, body.name)
    await session.commit()
    return CampaignOut(id=reply.campaign_id, name=body.name, created_at=reply.created_at)


@router.get("/campaigns", response_model=list[CampaignOut], tags=["campaigns"])
async def list_campaigns(workspace_id: Workspace, session: Session) -> list[CampaignOut]:
    counts = (
        select(lead_view.c.campaign_id, func.count().label("n"))
        .where(lead_view.c.workspace_id == workspace_id)
        .group_by(lead_view.c.campaign_id)
        .subquery()
    )
    rows = await session.execute(
        select(campaigns, func.coalesce(counts.c.n, 0).label("leads"))
        .outerjoin(counts, counts.c.campaign_id == campaigns.c.id)
        .where(campaigns.c.workspace_id == workspace_id)
        .order_by(campaigns.c.created_at.desc())
    )
    return [CampaignOut(id=r.id, name=r.name, created_at=r.created_at, leads=r.leads) for r in rows]


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, tags=["campaigns"])
async def get_campaign(campaign_id: UUID, workspace_id: Workspace, session: Session) -> CampaignOut:
    row = await campaign_or_404(session, workspace_id, campaign_id)
    total = await session.scalar(select(func.count()).where(lead_view.c.campaign_id == campaign_id))
    return CampaignOut(id=row.id, name=row.name, created_at=row.created_at, leads=total or 0)


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
    validation: str
    validation_reason: str | None
    last_activity_at: datetime | None
    import_id: UUID | None


class LeadPage(BaseModel):
    items: list[LeadOut]
    total: int
    next_cursor: str | None


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, "`cursor` is not one this API returned.") from exc


@router.get("/campaigns/{campaign_id}/leads", response_model=LeadPage, tags=["leads"])
async def list_leads(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
    status_: Annotated[list[LeadStatus] | None, Query(alias="status")] = None,
    validation: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> LeadPage:
    await campaign_or_404(session, workspace_id, campaign_id)
    filters: list[ColumnElement[bool]] = [
        lead_view.c.campaign_id == campaign_id,
        lead_view.c.workspace_id == workspace_id,
    ]
    if status_:
        filters.append(lead_view.c.status.in_([s.value for s in status_]))
    if validation:
        filters.append(lead_view.c.validation == validation)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filters.append(
            or_(
                lead_view.c.email.ilike(pattern),
                lead_view.c.company_name.ilike(pattern),
                lead_view.c.first_name.ilike(pattern),
                lead_view.c.last_name.ilike(pattern),
            )
        )
    total = await session.scalar(select(func.count()).select_from(lead_view).where(and_(*filters))) or 0
    page_filters = list(filters)
    if cursor:
        page_filters.append(lead_view.c.seq > _decode_cursor(cursor))
    rows = (
        await session.execute(
            select(lead_view).where(and_(*page_filters)).order_by(lead_view.c.seq).limit(limit + 1)
        )
    ).all()
    items = [LeadOut.model_validate(row, from_attributes=True) for row in rows[:limit]]
    next_cursor = _encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return LeadPage(items=items, total=total, next_cursor=next_cursor)


class LeadDetail(LeadOut):
    campaign_id: UUID
    phone: str | None
    website: str | None
    city: str | None
    industry: str | None
    custom: dict[str, str]
    created_at: datetime


@router.get("/leads/{lead_id}", response_model=LeadDetail, tags=["leads"])
async def get_lead(lead_id: UUID, workspace_id: Workspace, session: Session) -> LeadDetail:
    row = (
        await session.execute(
            select(lead_view).where(lead_view.c.id == lead_id, lead_view.c.workspace_id == workspace_id)
        )
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such lead.")
    return LeadDetail.model_validate(row, from_attributes=True)
