"""The pipeline: leads a workspace already has in its CRM, stored per workspace and imported into campaigns.

Every query here is scoped by `workspace_id`, including the import source: an id of another workspace's
lead simply matches nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from email_validator import EmailNotValidError
from psycopg import sql
from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert

from contracts import subjects
from contracts.commands import (
    CreatePipelineLeads,
    ImportStatusReply,
    ListPipelineLeads,
    PipelineFilter,
    PipelineItemError,
    PipelineLead,
    PipelineLeadIn,
    PipelineLeadPage,
    PipelineLeadsStored,
    StartPipelineImport,
    StoredPipelineLead,
)
from contracts.replies import Refusal
from services.importer.directory.labels import filter_label
from services.importer.directory.queries import (
    decode_position_cursor,
    encode_position_cursor,
    fetch,
    like_pattern,
    value_conditions,
)
from services.importer.domain import ImportInputError, normalise_email
from services.importer.handlers import start
from services.importer.runner import ImportRunner
from services.importer.sources import QuerySource
from services.importer.tables import pipeline_leads
from services.runtime.service import Service

TABLE = sql.Identifier("importer", "pipeline_leads")
_FIELDS = tuple(PipelineLeadIn.model_fields)
# What an import copies: lead fields by name; size, revenue, stage and the pipeline lead's id become the
# lead's custom values. `seq AS id` gives the import its stable order.
_IMPORT_COLUMNS = sql.SQL(
    "seq AS id, id::text AS pipeline_lead_id, email, first_name, last_name, company_name, phone, website, "
    "city, industry, company_size, revenue, stage"
)


def where_clause(workspace_id: UUID, f: PipelineFilter) -> tuple[sql.Composable, list[Any]]:
    value_parts, value_params = value_conditions(f, ("city", "industry", "stage"))
    parts: list[sql.Composable] = [sql.SQL("workspace_id = %s"), *value_parts]
    params: list[Any] = [workspace_id, *value_params]
    for column, low, high in (
        ("company_size", f.size_min, f.size_max),
        ("revenue", f.revenue_min, f.revenue_max),
    ):
        if low is not None:
            parts.append(sql.SQL("{} >= %s").format(sql.Identifier(column)))
            params.append(low)
        if high is not None:
            parts.append(sql.SQL("{} <= %s").format(sql.Identifier(column)))
            params.append(high)
    if f.q:
        parts.append(sql.SQL("search LIKE importer.fold_text(%s)"))
        params.append(like_pattern(f.q))
    return sql.SQL(" AND ").join(parts), params


def ids_clause(workspace_id: UUID, ids: Sequence[UUID]) -> tuple[sql.Composable, list[Any]]:
    return sql.SQL("workspace_id = %s AND id = ANY(%s)"), [workspace_id, list(ids)]


def import_query(workspace_id: UUID, params: dict[str, Any]) -> tuple[sql.Composed, list[Any]]:
    """The import's SELECT from its stored parameters: `{"ids": [...]}` or `{"filter": {...}}`."""
    try:
        if "ids" in params:
            where, values = ids_clause(workspace_id, [UUID(str(i)) for i in params["ids"]])
        else:
            where, values = where_clause(
                workspace_id, PipelineFilter.model_validate(params.get("filter", {}))
            )
    except (ValidationError, ValueError, TypeError) as exc:
        raise ImportInputError(f"The pipeline selection of this import is not valid: {exc}") from exc
    return sql.SQL("SELECT {} FROM {} WHERE {}").format(_IMPORT_COLUMNS, TABLE, where), values


def pipeline_label(ids: Sequence[UUID] | None, f: PipelineFilter | None) -> str:
    if ids is not None:
        return f"Pipeline: {len(ids):,} selected lead{'s' if len(ids) != 1 else ''}"
    f = f or PipelineFilter()
    return filter_label("Pipeline", [f.city, f.industry, f.stage], f, "all leads")


class PreparedLeads:
    """A create request checked item by item: the rows to upsert, and the errors by index.

    Within one request a later item with the same address wins, as it would in a later request, so every
    item of an address reports the same lead.
    """

    def __init__(self, workspace_id: UUID, items: Sequence[tuple[int, PipelineLeadIn]]) -> None:
        self.errors: list[PipelineItemError] = []
        self.rows: dict[str, dict[str, Any]] = {}  # email key, or the new id of a lead without an address
        self.indexes: dict[str, list[int]] = {}
        for index, lead in items:
            if not (lead.email or lead.first_name or lead.last_name or lead.company_name):
                self.errors.append(
                    PipelineItemError(index=index, error="a lead needs an email, a name or a company name")
                )
                continue
            email = key = None
            if lead.email:
                try:
                    normalised = normalise_email(lead.email)
                except EmailNotValidError as exc:
                    self.errors.append(
                        PipelineItemError(
                            index=index, error=f"email {lead.email!r} is not an email address: {exc}"
                        )
                    )
                    continue
                email, key = normalised.email, normalised.key
            slot = key or str(uuid.uuid4())
            self.rows[slot] = {
                **lead.model_dump(),
                "id": UUID(slot) if key is None else uuid.uuid4(),
                "workspace_id": workspace_id,
                "email": email,
                "email_key": key,
            }
            self.indexes.setdefault(slot, []).append(index)


async def store(service: Service, prepared: PreparedLeads) -> list[StoredPipelineLead]:
    if not prepared.rows:
        return []
    values = insert(pipeline_leads).values(list(prepared.rows.values()))
    statement = values.on_conflict_do_update(
        index_elements=["workspace_id", "email_key"],
        index_where=pipeline_leads.c.email_key.isnot(None),
        set_={
            **{name: values.excluded[name] for name in _FIELDS},
            "updated_at": func.now(),
        },
    ).returning(
        pipeline_leads.c.id,
        pipeline_leads.c.email_key,
        # Only a new row has both times from this transaction's now().
        (pipeline_leads.c.created_at == pipeline_leads.c.updated_at).label("created"),
    )
    async with service.sessions() as session, session.begin():
        returned = (await session.execute(statement)).all()
    stored: list[StoredPipelineLead] = []
    for row in returned:
        slot = row.email_key or str(row.id)
        for position, index in enumerate(prepared.indexes[slot]):
            stored.append(StoredPipelineLead(index=index, id=row.id, created=row.created and position == 0))
    return stored


def build_source(conninfo: str, job: Any) -> QuerySource:
    query, params = import_query(job.workspace_id, dict(job.params))
    return QuerySource(conninfo, query, params)


def register(service: Service, runner: ImportRunner) -> None:
    runner.sources.register("pipeline", build_source)
    broker = service.broker

    @broker.subscriber(
        subjects.command_subject("importer", "create_pipeline_leads"),
        queue="importer",
        title="importer.create_pipeline_leads",
        description="Store pipeline leads; an address already in the workspace's pipeline updates its lead.",
    )
    async def create_pipeline_leads(cmd: CreatePipelineLeads) -> PipelineLeadsStored:
        prepared = PreparedLeads(cmd.workspace_id, [(item.index, item.lead) for item in cmd.items])
        stored = await store(service, prepared)
        return PipelineLeadsStored(
            stored=sorted(stored, key=lambda s: s.index),
            errors=sorted(prepared.errors, key=lambda e: e.index),
        )

    @broker.subscriber(
        subjects.command_subject("importer", "list_pipeline_leads"),
        queue="importer",
        title="importer.list_pipeline_leads",
        description="The workspace's pipeline leads matching a filter: their count and one page.",
    )
    async def list_pipeline_leads(cmd: ListPipelineLeads) -> PipelineLeadPage | Refusal:
        try:
            after = decode_position_cursor(cmd.cursor) if cmd.cursor else None
        except ValueError as exc:
            return Refusal.invalid(str(exc))
        where, params = where_clause(cmd.workspace_id, cmd.filter)
        count = sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(TABLE, where)
        page_where, page_params = where, [*params]
        if after is not None:
            page_where, page_params = sql.SQL("{} AND seq > %s").format(where), [*params, after]
        page = sql.SQL(
            "SELECT seq, id, {}, created_at, updated_at FROM {} WHERE {} ORDER BY seq LIMIT %s"
        ).format(sql.SQL(", ").join(map(sql.Identifier, _FIELDS)), TABLE, page_where)
        async with service.sessions() as session:
            counted = await fetch(session, count, params)
            rows = await fetch(session, page, [*page_params, cmd.limit + 1])
        items = [PipelineLead.model_validate({k: v for k, v in r.items() if k != "seq"}) for r in rows]
        next_cursor = encode_position_cursor(rows[cmd.limit - 1]["seq"]) if len(rows) > cmd.limit else None
        return PipelineLeadPage(items=items[: cmd.limit], total=counted[0]["n"], next_cursor=next_cursor)

    @broker.subscriber(
        subjects.command_subject("importer", "start_pipeline_import"),
        queue="importer",
        title="importer.start_pipeline_import",
        description="Import pipeline leads of the workspace, chosen by id or by filter, into a campaign.",
    )
    async def start_pipeline_import(cmd: StartPipelineImport) -> ImportStatusReply | Refusal:
        params: dict[str, Any] = (
            {"ids": [str(i) for i in cmd.ids]}
            if cmd.ids is not None
            else {"filter": (cmd.filter or PipelineFilter()).model_dump(mode="json")}
        )
        return await start(
            service,
            runner,
            {
                "id": cmd.import_id,
                "workspace_id": cmd.workspace_id,
                "campaign_id": cmd.campaign_id,
                "source": "pipeline",
                "params": params,
                "filename": pipeline_label(cmd.ids, cmd.filter),
                "mapping": {},
            },
        )
