"""The pipeline's commands and its import source."""

from __future__ import annotations

from typing import Any

from contracts.commands import (
    CreatePipelineLeads,
    ImportStatusReply,
    ListPipelineLeads,
    PipelineLead,
    PipelineLeadPage,
    PipelineLeadsStored,
    StartPipelineImport,
)
from contracts.replies import Refusal
from services.importer.directory.queries import decode_position_cursor, encode_position_cursor
from services.importer.handlers import start
from services.importer.pipeline.domain import PreparedLeads, import_params, pipeline_label
from services.importer.pipeline.queries import import_query
from services.importer.pipeline.repository import PipelineRepository
from services.importer.runner import ImportRunner
from services.importer.sources import QuerySource
from services.runtime.service import Service


def build_source(conninfo: str, job: Any) -> QuerySource:
    query, params = import_query(job.workspace_id, dict(job.params))
    return QuerySource(conninfo, query, params)


async def create_pipeline_leads(service: Service, cmd: CreatePipelineLeads) -> PipelineLeadsStored:
    prepared = PreparedLeads(cmd.workspace_id, [(item.index, item.lead) for item in cmd.items])
    async with service.unit_of_work() as uow:
        upserted = await PipelineRepository.from_session(uow.session).upsert(prepared.rows.values())
    return PipelineLeadsStored(
        stored=prepared.stored(upserted), errors=sorted(prepared.errors, key=lambda e: e.index)
    )


async def list_pipeline_leads(service: Service, cmd: ListPipelineLeads) -> PipelineLeadPage | Refusal:
    try:
        after = decode_position_cursor(cmd.cursor) if cmd.cursor else None
    except ValueError as exc:
        return Refusal.invalid(str(exc))
    async with service.unit_of_work() as uow:
        leads = PipelineRepository.from_session(uow.session)
        total = await leads.count(cmd.workspace_id, cmd.filter)
        rows = await leads.page(cmd.workspace_id, cmd.filter, after, cmd.limit + 1)
    items = [PipelineLead.model_validate({k: v for k, v in r.items() if k != "seq"}) for r in rows]
    next_cursor = encode_position_cursor(rows[cmd.limit - 1]["seq"]) if len(rows) > cmd.limit else None
    return PipelineLeadPage(items=items[: cmd.limit], total=total, next_cursor=next_cursor)


async def start_pipeline_import(
    service: Service, runner: ImportRunner, cmd: StartPipelineImport
) -> ImportStatusReply | Refusal:
    return await start(
        service,
        runner,
        {
            "id": cmd.import_id,
            "workspace_id": cmd.workspace_id,
            "campaign_id": cmd.campaign_id,
            "source": "pipeline",
            "params": import_params(cmd.ids, cmd.filter),
            "filename": pipeline_label(cmd.ids, cmd.filter),
            "mapping": {},
        },
    )
