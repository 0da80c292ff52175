"""Wiring of the importer service: the commands it answers and the runner that does the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete

from contracts import ImportCompleted, ImportProgress, LeadImported, subjects
from contracts.commands import (
    AddSuppression,
    CancelImport,
    GetImport,
    ImportPage,
    ImportStatusReply,
    ListCampaignImports,
    ListSuppressions,
    PreviewCsv,
    PreviewReply,
    RemoveSuppression,
    StartCsvImport,
    SuppressionPage,
    SuppressionRemoved,
    SuppressionReply,
    SuppressionsUploaded,
    UploadSuppressions,
)
from contracts.events import LeadsRemoved
from contracts.replies import Refusal
from services.importer import pipeline
from services.importer.directory import handlers as directory_handlers
from services.importer.jobs import campaign_imports, start, status
from services.importer.preview_pool import PreviewPool
from services.importer.repository import ImportRepository
from services.importer.runner import ImportRunner, SourceFactory
from services.importer.suppressions import handlers as suppressions
from services.importer.tables import leads, metadata
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork


def create_service(
    settings: Settings, *, for_docs: bool = False, previews: PreviewPool | None = None
) -> Service:
    service = Service(name="importer", metadata=metadata, settings=settings, for_docs=for_docs)
    service.emits(LeadImported, ImportCompleted, ImportProgress)
    runner = ImportRunner(service, SourceFactory())
    previews = previews or PreviewPool()
    register_import_commands(service, runner, previews)
    service.on_shutdown(previews.close)
    answer_suppression_commands(service)
    service.consume(
        "lead_unsubscribed", suppressions.on_suppressing_event, durable="importer-suppress-unsubscribed"
    )
    service.consume("email_bounced", suppressions.on_suppressing_event, durable="importer-suppress-bounced")
    directory_handlers.register(service, runner)
    pipeline.register(service, runner)
    service.consume("leads_removed", forget_removed_leads, durable="importer-removals")
    service.on_startup(runner.start)
    return service


async def forget_removed_leads(uow: UnitOfWork, event: LeadsRemoved) -> None:
    """Removed from the campaign: drop the leads from the campaign's dedupe set, so the same addresses are
    imported into it again (as new leads) instead of being rejected as `already_in_campaign`."""
    await uow.session.execute(
        delete(leads).where(
            leads.c.id.in_(event.lead_ids),
            leads.c.workspace_id == event.workspace_id,
            leads.c.campaign_id == event.campaign_id,
        )
    )


def register_import_commands(service: Service, runner: ImportRunner, previews: PreviewPool) -> None:
    broker = service.broker

    @broker.subscriber(
        subjects.command_subject("importer", "start_import"),
        queue="importer",
        title="importer.start_import",
        description="Start a CSV import of an uploaded object into a campaign.",
    )
    async def start_import(cmd: StartCsvImport) -> ImportStatusReply | Refusal:
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

    @broker.subscriber(
        subjects.command_subject("importer", "get_import"),
        queue="importer",
        title="importer.get_import",
        description="The state, progress and breakdown of one import.",
    )
    async def get_import(cmd: GetImport) -> ImportStatusReply | Refusal:
        return await status(service, cmd.workspace_id, cmd.import_id)

    @broker.subscriber(
        subjects.command_subject("importer", "list_campaign_imports"),
        queue="importer",
        title="importer.list_campaign_imports",
        description="A campaign's imports, newest first, each with its state and breakdown; keyset-paged.",
    )
    async def list_campaign_imports(cmd: ListCampaignImports) -> ImportPage | Refusal:
        return await campaign_imports(service, cmd)

    @broker.subscriber(
        subjects.command_subject("importer", "cancel_import"),
        queue="importer",
        title="importer.cancel_import",
        description="Stop an import after its current chunk; what it imported so far stays.",
    )
    async def cancel_import(cmd: CancelImport) -> ImportStatusReply | Refusal:
        current = await status(service, cmd.workspace_id, cmd.import_id)
        if isinstance(current, Refusal):
            return current
        async with service.sessions() as session, session.begin():
            await ImportRepository.from_session(session).request_cancel(cmd.import_id)
        runner.launch(cmd.import_id)  # an import no worker is running is finished as cancelled right away
        return await status(service, cmd.workspace_id, cmd.import_id)

    @broker.subscriber(
        subjects.command_subject("importer", "preview"),
        queue="importer",
        title="importer.preview",
        description="Detect a CSV's encoding, delimiter and header, show its first rows, suggest a mapping.",
    )
    async def preview_csv(cmd: PreviewCsv) -> PreviewReply | Refusal:
        return await previews.run(cmd.sample, cmd.truncated)


def answer_suppression_commands(service: Service) -> None:
    @_answers(service, "add_suppression")
    async def add_suppression(cmd: AddSuppression) -> SuppressionReply | Refusal:
        return await suppressions.add_suppression(service, cmd)

    @_answers(service, "remove_suppression")
    async def remove_suppression(cmd: RemoveSuppression) -> SuppressionRemoved | Refusal:
        return await suppressions.remove_suppression(service, cmd)

    @_answers(service, "list_suppressions")
    async def list_suppressions(cmd: ListSuppressions) -> SuppressionPage | Refusal:
        return await suppressions.list_suppressions(service, cmd)

    @_answers(
        service,
        "upload_suppressions",
        "Add every address of an uploaded CSV to the suppression list, in one transaction; "
        "every row that is not an address comes back with its reason.",
    )
    async def upload_suppressions(cmd: UploadSuppressions) -> SuppressionsUploaded | Refusal:
        return await suppressions.upload_suppressions(service, cmd)


def _answers(
    service: Service, command: str, description: str | None = None
) -> Callable[[Callable[..., Any]], Any]:
    """Subscribe the decorated function to the importer's command `command` (request/reply, one queue)."""
    return service.broker.subscriber(
        subjects.command_subject("importer", command),
        queue="importer",
        title=f"importer.{command}",
        description=description,
    )
