"""The bulk-action routes: start a job (202), poll it."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status

from services.gateway.campaigns.queries import campaign_or_404
from services.gateway.deps import CurrentKey, Session, Workspace
from services.gateway.domain import JobState
from services.gateway.errors import API_RESPONSES, JSON_BODY, NO_SUCH_CAMPAIGN, problem
from services.gateway.jobs import queries
from services.gateway.jobs.runner import JobRunner
from services.gateway.jobs.schemas import BulkActionIn, JobOut, job_out

router = APIRouter(prefix="/api/v1", responses=API_RESPONSES)


async def caller_name(key: CurrentKey) -> str:
    """Who is making the change, as the lead's timeline shows it: the API key's name and prefix (the key
    a web session was opened with, for the web UI)."""
    return key.label


Caller = Annotated[str, Depends(caller_name)]


def job_runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.job_runner
    return runner


@router.post(
    "/campaigns/{campaign_id}/leads/bulk",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    tags=["leads"],
    responses={**NO_SUCH_CAMPAIGN, **JSON_BODY},
)
async def start_bulk_action(
    campaign_id: UUID,
    body: BulkActionIn,
    workspace_id: Workspace,
    changed_by: Caller,
    session: Session,
    runner: Annotated[JobRunner, Depends(job_runner)],
) -> JobOut:
    """Set the status of, or remove, many leads at once: answers 202 with a job to poll at `/jobs/{id}`.

    The leads are chosen by `ids` or by `filter` (exactly one) when the request is made.
    """
    await campaign_or_404(session, workspace_id, campaign_id)
    row = await queries.create_job(session, workspace_id, campaign_id, body, changed_by)
    await session.commit()
    if row.state == JobState.RUNNING:
        runner.wake()
    return job_out(row)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    tags=["jobs"],
    responses={404: problem("No such job in this workspace.")},
)
async def get_job(job_id: UUID, workspace_id: Workspace, session: Session) -> JobOut:
    """A bulk action's progress: poll until `state` is no longer `running`."""
    row = await queries.job_of(session, workspace_id, job_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such job.")
    return job_out(row)
