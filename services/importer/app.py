"""Wiring of the importer service: commands it answers and the runner that does the work."""

from __future__ import annotations

from uuid import UUID

from faststream.nats import NatsBroker

from contracts import ImportCompleted, ImportProgress, LeadImported, subjects
from contracts.commands import GetImport, ImportStatusReply, StartCsvImport
from services.importer.domain import empty_counts
from services.importer.repository import ImportRepository
from services.importer.runner import ImportRunner
from services.importer.tables import metadata
from services.runtime.service import Service
from services.runtime.settings import Settings


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    service = Service(name="importer", metadata=metadata, settings=settings, for_docs=for_docs)
    service.emits(LeadImported, ImportCompleted, ImportProgress)
    runner = ImportRunner(service)
    register_commands(service.broker, service, runner)
    service.on_startup(runner.start)
    return service


def register_commands(broker: NatsBroker, service: Service, runner: ImportRunner) -> None:
    @broker.subscriber(
        subjects.command_subject("importer", "start_import"),
        queue="importer",
        title="importer.start_import",
        description="Start a CSV import of an uploaded object into a campaign.",
    )
    async def start_import(cmd: StartCsvImport) -> ImportStatusReply:
        async with service.sessions() as session, session.begin():
            repo = ImportRepository.from_session(session)
            await repo.create(
                {
                    "id": cmd.import_id,
                    "workspace_id": cmd.workspace_id,
                    "campaign_id": cmd.campaign_id,
                    "source": "csv",
                    "object_name": cmd.object_name,
                    "filename": cmd.filename,
                    "mapping": cmd.mapping,
                    "total_bytes": cmd.total_bytes,
                    "counts": empty_counts(),
                }
            )
        runner.launch(cmd.import_id)
        return await _status(service, cmd.workspace_id, cmd.import_id)

    @broker.subscriber(
        subjects.command_subject("importer", "get_import"),
        queue="importer",
        title="importer.get_import",
        description="The state, progress and breakdown of one import.",
    )
    async def get_import(cmd: GetImport) -> ImportStatusReply:
        return await _status(service, cmd.workspace_id, cmd.import_id)


async def _status(service: Service, workspace_id: UUID, import_id: UUID) -> ImportStatusReply:
    async with service.sessions() as session:
        job = await ImportRepository.from_session(session).get(import_id)
    if job is None or job.workspace_id != workspace_id:
        return ImportStatusReply(error="No such import.", error_code="not_found")
    if job.state == "running":
        percent = 100.0 * job.bytes_done / job.total_bytes if job.total_bytes else 0.0
        percent = min(percent, 99.9)
    else:
        percent = 100.0
    return ImportStatusReply(
        id=job.id,
        campaign_id=job.campaign_id,
        source=job.source,
        filename=job.filename,
        state=job.state,
        error=job.error,
        percent=round(percent, 2),
        rows_done=job.rows_done,
        counts={**empty_counts(), **job.counts},
        created_at=job.created_at,
        finished_at=job.finished_at,
    )
