"""Starting an import and reading its state: shared by the CSV, directory and pipeline commands."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts.commands import ImportStatusReply
from services.importer.domain import empty_counts
from services.importer.repository import ImportRepository
from services.importer.runner import ImportRunner, percent_of
from services.runtime.service import Service


async def start(service: Service, runner: ImportRunner, values: dict[str, Any]) -> ImportStatusReply:
    """Record an import (idempotent on its id) and start it."""
    async with service.sessions() as session, session.begin():
        await ImportRepository.from_session(session).create({"counts": empty_counts(), **values})
    runner.launch(values["id"])
    return await status(service, values["workspace_id"], values["id"])


async def status(service: Service, workspace_id: UUID, import_id: UUID) -> ImportStatusReply:
    async with service.sessions() as session:
        job = await ImportRepository.from_session(session).get(import_id)
    if job is None or job.workspace_id != workspace_id:
        return ImportStatusReply(error="No such import.", error_code="not_found")
    completed = job.state == "completed"
    # A running import never shows 100% before its last chunk is committed.
    percent = 100.0 if completed else min(percent_of(job.rows_done, job.total_rows), 99.99)
    return ImportStatusReply(
        id=job.id,
        campaign_id=job.campaign_id,
        source=job.source,
        filename=job.filename,
        state=job.state,
        error=job.error,
        percent=percent,
        rows_done=job.rows_done,
        total_rows=job.total_rows,
        cancel_requested=job.cancel_requested,
        report_object=job.report_object,
        counts={**empty_counts(), **job.counts},
        created_at=job.created_at,
        finished_at=job.finished_at,
    )
