"""The import commands (start, state, list, cancel, preview) and the removal of leads from a campaign.

`start` and `status` are shared with the directory's and the pipeline's commands: every source's import
is recorded and reported the same way, and run by the same runner.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts.commands import (
    CancelImport,
    GetImport,
    ImportPage,
    ImportStatusReply,
    ListCampaignImports,
    StartCsvImport,
)
from contracts.events import LeadsRemoved
from contracts.replies import Refusal
from services.importer.domain import empty_counts
from services.importer.repository import ImportRepository
from services.importer.runner import ImportRunner
from services.importer.status import decode_import_cursor, page_of, status_of
from services.runtime.service import Service
from services.runtime.unit_of_work import UnitOfWork


async def start(
    service: Service, runner: ImportRunner, values: dict[str, Any]
) -> ImportStatusReply | Refusal:
    """Record an import (idempotent on its id) and start it."""
    async with service.unit_of_work() as uow:
        await ImportRepository.from_session(uow.session).create({"counts": empty_counts(), **values})
    runner.launch(values["id"])
    return await status(service, values["workspace_id"], values["id"])


async def status(service: Service, workspace_id: UUID, import_id: UUID) -> ImportStatusReply | Refusal:
    async with service.unit_of_work() as uow:
        job = await ImportRepository.from_session(uow.session).get(import_id)
    if job is None or job.workspace_id != workspace_id:
        return Refusal.not_found("No such import.")
    return status_of(job)


async def start_csv_import(
    service: Service, runner: ImportRunner, cmd: StartCsvImport
) -> ImportStatusReply | Refusal:
    return await start(
        service,
        runner,
        {
            "id": cmd.import_id,
            "workspace_id": cmd.workspace_id,
            "campaign_id": cmd.campaign_id,
            "source": "csv",
            "object_name": cmd.object_name,
            "filename": cmd.filename,
            "mapping": cmd.mapping,
            "total_bytes": cmd.total_bytes,
        },
    )


async def get_import(service: Service, cmd: GetImport) -> ImportStatusReply | Refusal:
    return await status(service, cmd.workspace_id, cmd.import_id)


async def list_campaign_imports(service: Service, cmd: ListCampaignImports) -> ImportPage | Refusal:
    try:
        after = decode_import_cursor(cmd.cursor) if cmd.cursor else None
    except ValueError as exc:
        return Refusal.invalid(str(exc))
    async with service.unit_of_work() as uow:
        rows = await ImportRepository.from_session(uow.session).newest_of_campaign(
            cmd.workspace_id, cmd.campaign_id, cmd.limit + 1, after
        )
    return page_of(rows, cmd.limit)


async def cancel_import(
    service: Service, runner: ImportRunner, cmd: CancelImport
) -> ImportStatusReply | Refusal:
    current = await status(service, cmd.workspace_id, cmd.import_id)
    if isinstance(current, Refusal):
        return current
    async with service.unit_of_work() as uow:
        await ImportRepository.from_session(uow.session).request_cancel(cmd.import_id)
    runner.launch(cmd.import_id)  # an import no worker is running is finished as cancelled right away
    return await status(service, cmd.workspace_id, cmd.import_id)


async def forget_removed_leads(uow: UnitOfWork, event: LeadsRemoved) -> None:
    """Removed from the campaign: drop the leads from the campaign's dedupe set, so the same addresses are
    imported into it again (as new leads) instead of being rejected as `already_in_campaign`."""
    await ImportRepository.from_session(uow.session).forget_leads(
        event.workspace_id, event.campaign_id, event.lead_ids
    )
