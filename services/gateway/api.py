"""HTTP API v1. Every route is scoped to the caller's workspace: another workspace's ids are 404."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.exceptions import FastStreamException
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import LeadStatus, subjects
from contracts.commands import (
    LEAD_FIELDS,
    CampaignCreatedReply,
    CreateCampaign,
    GetImport,
    ImportStatusReply,
    Reply,
    StartCsvImport,
)
from services.gateway.auth import workspace_for_key
from services.gateway.projection import upsert_campaign
from services.gateway.tables import campaigns, lead_view
from services.runtime.service import Service
from services.runtime.streams import UPLOADS_BUCKET

router = APIRouter(prefix="/api/v1")
bearer = HTTPBearer(auto_error=False, description="An API key: `leadflow workspace create NAME` prints one.")


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def db_session(request: Request) -> Any:
    async with service_of(request).sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(db_session)]


async def current_workspace(
    request: Request,
    session: Session,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> UUID:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Send your API key as `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    workspace_id = await workspace_for_key(session, credentials.credentials)
    if workspace_id is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "That API key is unknown or revoked.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return workspace_id


Workspace = Annotated[UUID, Depends(current_workspace)]


async def ask(service: Service, verb: str, target: str, command: BaseModel, reply_type: type[Reply]) -> Any:
    """Request/reply to a service; a missing or silent service is a 503 the caller can retry."""
    try:
        msg = await service.broker.request(
            command.model_dump(mode="json"),
            subjects.command_subject(target, verb),
            timeout=service.settings.request_timeout_seconds,
        )
    except (NoRespondersError, NatsTimeoutError, TimeoutError, FastStreamException) as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"The {target} service did not answer; try again shortly."
        ) from exc
    return reply_type.model_validate_json(msg.body)


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


# --- imports ---------------------------------------------------------------------------------------------


class ImportOut(BaseModel):
    id: UUID
    campaign_id: UUID
    state: str
    error: str | None = None
    percent: float
    rows_done: int
    counts: dict[str, int]
    filename: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


def import_out(reply: ImportStatusReply) -> ImportOut:
    if (
        reply.error_code == "not_found"
        or reply.id is None
        or reply.campaign_id is None
        or reply.state is None
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, reply.error or "No such import.")
    return ImportOut(
        id=reply.id,
        campaign_id=reply.campaign_id,
        state=reply.state,
        error=reply.error,
        percent=reply.percent,
        rows_done=reply.rows_done,
        counts=reply.counts,
        filename=reply.filename,
        created_at=reply.created_at,
        finished_at=reply.finished_at,
    )


def parse_mapping(raw: str) -> dict[str, str]:
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"`mapping` is not valid JSON: {exc.msg}.") from exc
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise HTTPException(
            422, '`mapping` must be a JSON object of field → column, e.g. {"email": "E-mail"}.'
        )
    unknown = sorted(set(mapping) - set(LEAD_FIELDS))
    if unknown:
        raise HTTPException(
            422,
            f"Unknown field(s) in `mapping`: {', '.join(unknown)}. Known fields: {', '.join(LEAD_FIELDS)}.",
        )
    if not mapping.get("email"):
        raise HTTPException(
            422, "No column is mapped to `email`; map the column that holds the email address."
        )
    return {k: v for k, v in mapping.items() if v}


@router.post(
    "/campaigns/{campaign_id}/imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportOut,
    tags=["imports"],
)
async def start_import(
    campaign_id: UUID,
    workspace_id: Workspace,
    session: Session,
    request: Request,
    file: Annotated[UploadFile, File(description="The CSV file")],
    mapping: Annotated[
        str, Form(description='JSON: our field → the CSV\'s header, e.g. {"email": "E-mail"}')
    ],
) -> ImportOut:
    await campaign_or_404(session, workspace_id, campaign_id)
    await session.close()
    fields = parse_mapping(mapping)
    service = service_of(request)
    size = file.size if file.size is not None else _measure(file)
    if size == 0:
        raise HTTPException(422, "The file is empty.")
    if size > service.settings.import_max_bytes:
        raise HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            f"The file is {size:,} bytes; the limit is {service.settings.import_max_bytes:,} bytes.",
        )
    import_id = uuid4()
    object_name = str(import_id)
    store = await service.js.object_store(UPLOADS_BUCKET)
    await file.seek(0)
    await store.put(object_name, file.file)  # type: ignore[arg-type]
    command = StartCsvImport(
        workspace_id=workspace_id,
        import_id=import_id,
        campaign_id=campaign_id,
        object_name=object_name,
        filename=file.filename or "",
        total_bytes=size,
        mapping=fields,
    )
    try:
        reply: ImportStatusReply = await ask(service, "start_import", "importer", command, ImportStatusReply)
    except HTTPException:
        await store.delete(object_name)
        raise
    return import_out(reply)


def _measure(file: UploadFile) -> int:
    file.file.seek(0, 2)
    size = file.file.tell()
    file.file.seek(0)
    return size


@router.get("/imports/{import_id}", response_model=ImportOut, tags=["imports"])
async def get_import(import_id: UUID, workspace_id: Workspace, request: Request) -> ImportOut:
    reply = await ask(
        service_of(request),
        "get_import",
        "importer",
        GetImport(workspace_id=workspace_id, import_id=import_id),
        ImportStatusReply,
    )
    return import_out(reply)


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
