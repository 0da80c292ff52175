"""Wiring of the importer service: the commands it answers, the events it consumes, the runner.

Each command is subscribed here and answered by a handler of its feature: the imports (`handlers`), the
suppression list (`suppressions.handlers`), the company directory (`directory.handlers`) and the
pipeline (`pipeline.handlers`).
"""

from __future__ import annotations

from contracts import ImportCompleted, ImportProgress, LeadImported
from contracts.commands import (
    AddSuppression,
    CancelImport,
    CheckSuppressions,
    CreatePipelineLeads,
    DirectoryFacets,
    DirectoryPage,
    GetDirectoryFacets,
    GetImport,
    ImportPage,
    ImportStatusReply,
    ListCampaignImports,
    ListPipelineLeads,
    ListSuppressions,
    PipelineLeadPage,
    PipelineLeadsStored,
    PreviewCsv,
    PreviewReply,
    RemoveSuppression,
    SearchDirectory,
    StartCsvImport,
    StartDirectoryImport,
    StartPipelineImport,
    SuppressedEmails,
    SuppressionPage,
    SuppressionRemoved,
    SuppressionReply,
    SuppressionsUploaded,
    UploadSuppressions,
)
from contracts.replies import Refusal
from services.importer import handlers as imports
from services.importer.directory import handlers as directory
from services.importer.pipeline import handlers as pipeline
from services.importer.preview_pool import PreviewPool
from services.importer.runner import ImportRunner, SourceFactory
from services.importer.suppressions import handlers as suppressions
from services.importer.tables import metadata
from services.runtime.service import Service
from services.runtime.settings import Settings


def create_service(
    settings: Settings, *, for_docs: bool = False, previews: PreviewPool | None = None
) -> Service:
    service = Service(name="importer", metadata=metadata, settings=settings, for_docs=for_docs)
    service.emits(LeadImported, ImportCompleted, ImportProgress)
    runner = ImportRunner(service, SourceFactory())
    previews = previews or PreviewPool()
    answer_import_commands(service, runner, previews)
    service.on_shutdown(previews.close)
    answer_suppression_commands(service)
    service.consume(
        "lead_unsubscribed", suppressions.on_suppressing_event, durable="importer-suppress-unsubscribed"
    )
    service.consume("email_bounced", suppressions.on_suppressing_event, durable="importer-suppress-bounced")
    service.consume(
        "inbound_reclassified", suppressions.on_reclassified, durable="importer-unsuppress-reclassified"
    )
    runner.sources.register("directory", directory.build_source)
    answer_directory_commands(service, runner)
    runner.sources.register("pipeline", pipeline.build_source)
    answer_pipeline_commands(service, runner)
    service.consume("leads_removed", imports.forget_removed_leads, durable="importer-removals")
    service.on_startup(runner.start)
    return service


def answer_import_commands(service: Service, runner: ImportRunner, previews: PreviewPool) -> None:
    @service.answers("start_import", "Start a CSV import of an uploaded object into a campaign.")
    async def start_import(cmd: StartCsvImport) -> ImportStatusReply | Refusal:
        return await imports.start_csv_import(service, runner, cmd)

    @service.answers("get_import", "The state, progress and breakdown of one import.")
    async def get_import(cmd: GetImport) -> ImportStatusReply | Refusal:
        return await imports.get_import(service, cmd)

    @service.answers(
        "list_campaign_imports",
        "A campaign's imports, newest first, each with its state and breakdown; keyset-paged.",
    )
    async def list_campaign_imports(cmd: ListCampaignImports) -> ImportPage | Refusal:
        return await imports.list_campaign_imports(service, cmd)

    @service.answers(
        "cancel_import", "Stop an import after its current chunk; what it imported so far stays."
    )
    async def cancel_import(cmd: CancelImport) -> ImportStatusReply | Refusal:
        return await imports.cancel_import(service, runner, cmd)

    @service.answers(
        "preview",
        "Detect a CSV's encoding, delimiter and header, show its first rows, suggest a mapping.",
    )
    async def preview_csv(cmd: PreviewCsv) -> PreviewReply | Refusal:
        return await previews.run(cmd.sample, cmd.truncated)


def answer_suppression_commands(service: Service) -> None:
    @service.answers("add_suppression")
    async def add_suppression(cmd: AddSuppression) -> SuppressionReply | Refusal:
        return await suppressions.add_suppression(service, cmd)

    @service.answers("remove_suppression")
    async def remove_suppression(cmd: RemoveSuppression) -> SuppressionRemoved | Refusal:
        return await suppressions.remove_suppression(service, cmd)

    @service.answers("list_suppressions")
    async def list_suppressions(cmd: ListSuppressions) -> SuppressionPage | Refusal:
        return await suppressions.list_suppressions(service, cmd)

    @service.answers(
        "check_suppressions",
        "Which of these addresses are suppressed (the mailer asks right before it sends).",
    )
    async def check_suppressions(cmd: CheckSuppressions) -> SuppressedEmails:
        return await suppressions.check_suppressions(service, cmd)

    @service.answers(
        "upload_suppressions",
        "Add every address of an uploaded CSV to the suppression list, in one transaction; "
        "every row that is not an address comes back with its reason.",
    )
    async def upload_suppressions(cmd: UploadSuppressions) -> SuppressionsUploaded | Refusal:
        return await suppressions.upload_suppressions(service, cmd)


def answer_directory_commands(service: Service, runner: ImportRunner) -> None:
    @service.answers(
        "search_directory", "Companies of the directory matching a filter: their count and one page."
    )
    async def search_directory(cmd: SearchDirectory) -> DirectoryPage | Refusal:
        return await directory.search_directory(service, cmd)

    @service.answers(
        "directory_facets",
        "The distinct countries, cities (of the given countries) and industries of the directory.",
    )
    async def directory_facets(cmd: GetDirectoryFacets) -> DirectoryFacets:
        return await directory.directory_facets(service, cmd)

    @service.answers(
        "start_directory_import",
        "Import every company of the directory matching a filter into a campaign.",
    )
    async def start_directory_import(cmd: StartDirectoryImport) -> ImportStatusReply | Refusal:
        return await directory.start_directory_import(service, runner, cmd)


def answer_pipeline_commands(service: Service, runner: ImportRunner) -> None:
    @service.answers(
        "create_pipeline_leads",
        "Store pipeline leads; an address already in the workspace's pipeline updates its lead.",
    )
    async def create_pipeline_leads(cmd: CreatePipelineLeads) -> PipelineLeadsStored:
        return await pipeline.create_pipeline_leads(service, cmd)

    @service.answers(
        "list_pipeline_leads",
        "The workspace's pipeline leads matching a filter: their count and one page.",
    )
    async def list_pipeline_leads(cmd: ListPipelineLeads) -> PipelineLeadPage | Refusal:
        return await pipeline.list_pipeline_leads(service, cmd)

    @service.answers(
        "start_pipeline_import",
        "Import pipeline leads of the workspace, chosen by id or by filter, into a campaign.",
    )
    async def start_pipeline_import(cmd: StartPipelineImport) -> ImportStatusReply | Refusal:
        return await pipeline.start_pipeline_import(service, runner, cmd)
