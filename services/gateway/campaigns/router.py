"""Campaigns and the workspace. Every route is scoped to the caller's workspace: other ids are 404."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, Request, status

from contracts.commands import CampaignCreatedReply, CreateCampaign
from services.gateway.campaigns.queries import campaign_or_404, campaigns_with_counts, workspace_row
from services.gateway.campaigns.schemas import CampaignIn, CampaignOut, WorkspaceOut
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import API_RESPONSES, JSON_BODY, NO_SUCH_CAMPAIGN, problem
from services.gateway.leads.queries import count_leads
from services.gateway.leads.schemas import LeadFilter
from services.gateway.projection.consumer import upsert_campaign
from services.gateway.projection.imports import arriving_leads

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)


@router.get("/workspace", response_model=WorkspaceOut, tags=["workspace"])
async def current_workspace_info(workspace_id: Workspace, session: Session) -> WorkspaceOut:
    """The workspace the API key belongs to."""
    row = await workspace_row(session, workspace_id)
    return WorkspaceOut(id=row.id, name=row.name)


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
    rows = await campaigns_with_counts(session, workspace_id)
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
