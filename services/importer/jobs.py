"""Starting an import and reading its state: shared by the CSV, directory and pipeline commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from contracts import ImportState
from contracts.commands import ImportPage, ImportStatusReply, ListCampaignImports
from contracts.replies import Refusal
from services.importer.domain import empty_counts
from services.importer.repository import ImportRepository
from services.importer.runner import ImportRunner, percent_of
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor
from services.runtime.service import Service


async def start(
    service: Service, runner: ImportRunner, values: dict[str, Any]
) -> ImportStatusReply | Refusal:
    """Record an import (idempotent on its id) and start it."""
    async with service.sessions() as session, session.begin():
        await ImportRepository.from_session(session).create({"counts": empty_counts(), **values})
    runner.launch(values["id"])
    return await status(service, values["workspace_id"], values["id"])


async def status(service: Service, workspace_id: UUID, import_id: UUID) -> ImportStatusReply | Refusal:
    async with service.sessions() as session:
        job = await ImportRepository.from_session(session).get(import_id)
    if job is None or job.workspace_id != workspace_id:
        return Refusal.not_found("No such import.")
    return status_of(job)


def status_of(job: Any) -> ImportStatusReply:
    """An import's row as the reply every import command gives."""
    completed = job.state == ImportState.COMPLETED
    # A running import never shows 100% before its last chunk is committed.
    percent = 100.0 if completed else min(percent_of(job.rows_done, job.total_rows), 99.99)
    return ImportStatusReply(
        id=job.id,
        campaign_id=job.campaign_id,
        source=job.source,
        filename=job.filename,
        state=ImportState(job.state),
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


def encode_import_cursor(created_at: datetime, import_id: UUID) -> str:
    return encode_cursor([created_at.isoformat(), str(import_id)])


def decode_import_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raises InvalidCursor (a ValueError) for a cursor this API did not hand out."""
    try:
        created_at, import_id = decode_cursor(cursor)
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has a zone")
        return moment, UUID(import_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor from exc


async def campaign_imports(service: Service, cmd: ListCampaignImports) -> ImportPage | Refusal:
    try:
        after = decode_import_cursor(cmd.cursor) if cmd.cursor else None
    except ValueError as exc:
        return Refusal.invalid(str(exc))
    async with service.sessions() as session:
        rows = await ImportRepository.from_session(session).newest_of_campaign(
            cmd.workspace_id, cmd.campaign_id, cmd.limit + 1, after
        )
    page = rows[: cmd.limit]
    next_cursor = None
    if len(rows) > cmd.limit:
        next_cursor = encode_import_cursor(page[-1].created_at, page[-1].id)
    return ImportPage(items=[status_of(row) for row in page], next_cursor=next_cursor)
