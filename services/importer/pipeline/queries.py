"""The pipeline's SQL: a filter or a selection of ids as a WHERE clause, and the SELECT an import reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import sql

from contracts.commands import PipelineFilter, PipelineLeadIn
from services.importer.directory.queries import like_pattern, value_conditions
from services.importer.pipeline.domain import selection_of

TABLE = sql.Identifier("importer", "pipeline_leads")
FIELDS = tuple(PipelineLeadIn.model_fields)
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
    selection = selection_of(params)
    if isinstance(selection, PipelineFilter):
        where, values = where_clause(workspace_id, selection)
    else:
        where, values = ids_clause(workspace_id, selection)
    return sql.SQL("SELECT {} FROM {} WHERE {}").format(_IMPORT_COLUMNS, TABLE, where), values


def count_query(workspace_id: UUID, f: PipelineFilter) -> tuple[sql.Composed, list[Any]]:
    where, params = where_clause(workspace_id, f)
    return sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(TABLE, where), params


def page_query(
    workspace_id: UUID, f: PipelineFilter, after: int | None, limit: int
) -> tuple[sql.Composed, list[Any]]:
    """Up to `limit` leads matching `f` in the order they were first stored, after position `after`."""
    where, params = where_clause(workspace_id, f)
    if after is not None:
        where, params = sql.SQL("{} AND seq > %s").format(where), [*params, after]
    query = sql.SQL(
        "SELECT seq, id, {}, created_at, updated_at FROM {} WHERE {} ORDER BY seq LIMIT %s"
    ).format(sql.SQL(", ").join(map(sql.Identifier, FIELDS)), TABLE, where)
    return query, [*params, limit]
