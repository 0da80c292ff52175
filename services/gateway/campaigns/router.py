"""Campaigns and the workspace. Every route is scoped to the caller's workspace: other ids are 404."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import (
    CampaignAction,
    CampaignCreatedReply,
    CampaignStateReply,
    ChangeCampaignStatus,
    CreateCampaign,
    GetCampaign,
    PreviewSequence,
    ReplaceSequence,
    SequencePreview,
    SettingsChange,
    UpdateCampaignSettings,
)
from contracts.replies import RefusalKind
from services.gateway.campaigns.analytics import CampaignAnalytics, analytics
from services.gateway.campaigns.mailbox_checks import mailbox_failures
from services.gateway.campaigns.queries import campaign_or_404, campaigns_with_counts, workspace_row
from services.gateway.campaigns.schemas import (
    CampaignDetailOut,
    CampaignIn,
    CampaignOut,
    PreviewIn,
    SequenceIn,
    WorkspaceOut,
)
from services.gateway.deps import Session, Workspace, ask, service_of
from services.gateway.errors import (
    API_RESPONSES,
    CROSS_SITE,
    JSON_BODY,
    NO_SUCH_CAMPAIGN,
    CommandRefused,
    problem,
)
from services.gateway.leads.queries import count_leads, lead_of_workspace
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
            id=r.id,
            name=r.name,
            created_at=r.created_at,
            status=r.status,
            leads=r.leads,
            arriving=arriving.get(r.id, 0),
        )
        for r in rows
    ]


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignDetailOut,
    tags=["campaigns"],
    responses=NO_SUCH_CAMPAIGN,
)
async def get_campaign(
    campaign_id: UUID, workspace_id: Workspace, session: Session, request: Request
) -> CampaignDetailOut:
    await campaign_or_404(session, workspace_id, campaign_id)
    return await _detail(session, workspace_id, campaign_id, await _state(request, workspace_id, campaign_id))


@router.get(
    "/campaigns/{campaign_id}/analytics",
    response_model=CampaignAnalytics,
    tags=["campaigns"],
    responses=NO_SUCH_CAMPAIGN,
)
async def campaign_analytics(
    campaign_id: UUID, workspace_id: Workspace, session: Session, request: Request
) -> CampaignAnalytics:
    """Emails sent per day (UTC), how many leads reached each step of the sequence, and totals: sent,
    leads, completed, bounced, unsubscribed. Replies, auto-replies, hard and soft bounces and unsubscribes
    per day (UTC), and the sends, replies and hard bounces with the reply and bounce rates (percentages)
    per step and per mailbox. As projected from the campaign's events, a moment behind."""
    await campaign_or_404(session, workspace_id, campaign_id)
    try:
        # The sequence's length makes the funnel show steps nobody reached yet; only nice to have.
        steps: int | None = len((await _state(request, workspace_id, campaign_id, reply_within=2.0)).steps)
    except CommandRefused as refused:
        if refused.kind is RefusalKind.NOT_FOUND:
            raise
        steps = None
    total = await count_leads(session, workspace_id, campaign_id, LeadFilter())
    return await analytics(session, workspace_id, campaign_id, steps, total.value)


@router.post(
    "/campaigns/{campaign_id}/preview",
    response_model=SequencePreview,
    tags=["campaigns"],
    responses={
        **JSON_BODY,
        404: problem("No such campaign in this workspace, or no such lead in the campaign."),
    },
)
async def preview_sequence(
    campaign_id: UUID, body: PreviewIn, workspace_id: Workspace, session: Session, request: Request
) -> SequencePreview:
    """The steps rendered for one of the campaign's leads: the saved steps, or `steps` as being edited.
    Each step names the variables the lead has no value for (`missing`; such a step is not sent to it)
    and what is wrong with its templates (`errors`)."""
    await campaign_or_404(session, workspace_id, campaign_id)
    lead = await lead_of_workspace(session, workspace_id, body.lead_id)
    if lead is None or lead.campaign_id != campaign_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such lead in this campaign.")
    return await ask(
        service_of(request),
        "preview_sequence",
        "sequencer",
        PreviewSequence(
            workspace_id=workspace_id, campaign_id=campaign_id, lead_id=body.lead_id, steps=body.steps
        ),
        SequencePreview,
    )


@router.patch(
    "/campaigns/{campaign_id}",
    response_model=CampaignDetailOut,
    tags=["campaigns"],
    responses={**NO_SUCH_CAMPAIGN, **JSON_BODY, 409: problem("The campaign is completed.")},
)
async def update_campaign_settings(
    campaign_id: UUID, body: SettingsChange, workspace_id: Workspace, session: Session, request: Request
) -> CampaignDetailOut:
    """Change the settings named in the body; the others keep their values. `null` clears the schedule
    (any time) or the daily limit (none). `bounce_protection` changes only the fields it names. Every error
    is answered at once (422)."""
    command = UpdateCampaignSettings(
        workspace_id=workspace_id,
        campaign_id=campaign_id,
        change=body,
        fields_set=sorted(body.model_fields_set),
    )
    return await _command(session, request, workspace_id, campaign_id, "update_campaign_settings", command)


@router.put(
    "/campaigns/{campaign_id}/sequence",
    response_model=CampaignDetailOut,
    tags=["campaigns"],
    responses={**NO_SUCH_CAMPAIGN, **JSON_BODY, 409: problem("The campaign is completed.")},
)
async def replace_sequence(
    campaign_id: UUID, body: SequenceIn, workspace_id: Workspace, session: Session, request: Request
) -> CampaignDetailOut:
    command = ReplaceSequence(workspace_id=workspace_id, campaign_id=campaign_id, steps=body.steps)
    return await _command(session, request, workspace_id, campaign_id, "replace_sequence", command)


def _status_route(action: CampaignAction, refused: str) -> None:
    @router.post(
        f"/campaigns/{{campaign_id}}/{action.value}",
        response_model=CampaignDetailOut,
        tags=["campaigns"],
        name=f"{action.value}_campaign",
        responses={**NO_SUCH_CAMPAIGN, **CROSS_SITE, 409: problem(refused)},
    )
    async def change_status(
        campaign_id: UUID, workspace_id: Workspace, session: Session, request: Request
    ) -> CampaignDetailOut:
        failures: list[str] = []
        if action is CampaignAction.ACTIVATE:
            await campaign_or_404(session, workspace_id, campaign_id)
            state = await _state(request, workspace_id, campaign_id)
            failures = await mailbox_failures(service_of(request), workspace_id, state.settings.mailbox_ids)
        command = ChangeCampaignStatus(
            workspace_id=workspace_id, campaign_id=campaign_id, action=action, mailbox_failures=failures
        )
        return await _command(session, request, workspace_id, campaign_id, "change_campaign_status", command)


_status_route(
    CampaignAction.ACTIVATE,
    "The campaign cannot start; `detail` names every reason (not a draft, no steps, no mailbox, a mailbox "
    "whose test failed: its address and what failed).",
)
_status_route(CampaignAction.PAUSE, "Only an active campaign can be paused.")
_status_route(CampaignAction.RESUME, "Only a paused campaign can be resumed.")


async def _state(
    request: Request, workspace_id: UUID, campaign_id: UUID, *, reply_within: float | None = None
) -> CampaignStateReply:
    return await ask(
        service_of(request),
        "get_campaign",
        "sequencer",
        GetCampaign(workspace_id=workspace_id, campaign_id=campaign_id),
        CampaignStateReply,
        reply_within=reply_within,
    )


async def _command(
    session: AsyncSession,
    request: Request,
    workspace_id: UUID,
    campaign_id: UUID,
    verb: str,
    command: BaseModel,
) -> CampaignDetailOut:
    await campaign_or_404(session, workspace_id, campaign_id)
    state = await ask(service_of(request), verb, "sequencer", command, CampaignStateReply)
    return await _detail(session, workspace_id, campaign_id, state)


async def _detail(
    session: AsyncSession, workspace_id: UUID, campaign_id: UUID, state: CampaignStateReply
) -> CampaignDetailOut:
    row = await campaign_or_404(session, workspace_id, campaign_id)
    total = await count_leads(session, workspace_id, campaign_id, LeadFilter())
    arriving = await arriving_leads(session, workspace_id, [campaign_id])
    return CampaignDetailOut(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        leads=total.value,
        arriving=arriving.get(campaign_id, 0),
        status=state.status,
        settings=state.settings,
        steps=state.steps,
        step_counts=state.step_counts,
        warnings=state.warnings,
        paused_reason=state.paused_reason,
        paused_detail=state.paused_detail,
    )
