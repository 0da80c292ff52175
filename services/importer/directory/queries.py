"""Filters as SQL: the conditions, page, count, import and facet queries, shared with the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import DirectoryCompany, DirectoryFilter, PipelineFilter
from services.importer.directory.rows import TABLE
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor

FACET_LIMIT = 10_000


def like_pattern(q: str) -> str:
    """A LIKE pattern matching `q` anywhere; its own % and _ match literally."""
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def folded_city_condition(values: Sequence[str]) -> tuple[sql.Composable, list[Any]]:
    """Cities that match ignoring case and accents (`plzen` finds Plzeň, `BRNO` Brno): both sides folded
    by the same SQL function, served by an index on the folded city. One `fold_text(%s)` per value (not a
    subquery over an array) so the planner folds them to constants and can estimate the match count."""
    folded = sql.SQL(", ").join(sql.SQL("importer.fold_text(%s::text)") for _ in values)
    return sql.SQL("importer.fold_text(city) = ANY(ARRAY[{}])").format(folded), list(values)


def value_conditions(
    f: DirectoryFilter | PipelineFilter, columns: Sequence[str]
) -> tuple[list[sql.Composable], list[Any]]:
    """For each of these filter fields that lists values, the condition "the column is one of them" (the
    city folded, as `folded_city_condition`) and its parameters, in order."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for column in columns:
        values = getattr(f, column)
        if values:
            if column == "city":
                condition, values = folded_city_condition(values)
                parts.append(condition)
                params += values
            else:
                parts.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)))
                params.append(list(values))
    return parts, params


def where_clause(f: DirectoryFilter) -> tuple[sql.Composable, list[Any]]:
    """The SQL condition of a filter and its parameters (the search page, its count and an import share it,
    so the count a person sees is the number of rows the import reads)."""
    parts, params = value_conditions(f, ("country", "city", "industry"))
    if f.size_min is not None or f.size_max is not None:
        parts.append(sql.SQL("size_band && int4range(%s::integer, %s::integer, '[]')"))
        params += [f.size_min, f.size_max]
    if f.revenue_min is not None or f.revenue_max is not None:
        parts.append(sql.SQL("revenue_band && int8range(%s::bigint, %s::bigint, '[]')"))
        params += [f.revenue_min, f.revenue_max]
    if f.q:
        parts.append(sql.SQL("search LIKE importer.fold_text(%s)"))
        params.append(like_pattern(f.q))
    return (sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")), params


_PAGE_COLUMNS = tuple(DirectoryCompany.model_fields)
# What an import copies: lead fields by name; country and the bands become the lead's custom values.
_IMPORT_COLUMNS = (
    "id",
    "email",
    "first_name",
    "company_name",
    "website",
    "city",
    "industry",
    "country",
    "size_min",
    "size_max",
    "revenue_min",
    "revenue_max",
)


def import_query(f: DirectoryFilter) -> tuple[sql.Composed, list[Any]]:
    where, params = where_clause(f)
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
        sql.SQL(", ").join(map(sql.Identifier, _IMPORT_COLUMNS)), TABLE, where
    )
    return query, params


def page_query(f: DirectoryFilter, after: int | None, limit: int) -> tuple[sql.Composed, list[Any]]:
    where, params = where_clause(f)
    if after is not None:
        where = sql.SQL("{} AND id > %s").format(where)
        params.append(after)
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY id LIMIT %s").format(
        sql.SQL(", ").join(map(sql.Identifier, _PAGE_COLUMNS)), TABLE, where
    )
    return query, [*params, limit]


def count_query(f: DirectoryFilter) -> tuple[sql.Composed, list[Any]]:
    where, params = where_clause(f)
    return sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(TABLE, where), params


def facet_query(column: str) -> tuple[sql.Composed, list[Any]]:
    """The distinct values of an indexed column, walking its index one value at a time (a loose index
    scan), so the cost grows with the number of distinct values, not with the million rows."""
    query = sql.SQL(
        "WITH RECURSIVE facet(value) AS ("
        "(SELECT {col} FROM {table} WHERE {col} IS NOT NULL ORDER BY {col} LIMIT 1) "
        "UNION ALL "
        "SELECT (SELECT {col} FROM {table} WHERE {col} > facet.value ORDER BY {col} LIMIT 1) "
        "FROM facet WHERE facet.value IS NOT NULL"
        ") SELECT value FROM facet WHERE value IS NOT NULL LIMIT %s"
    ).format(col=sql.Identifier(column), table=TABLE)
    return query, [FACET_LIMIT]


def cities_query(countries: Sequence[str]) -> tuple[sql.Composed, list[Any]]:
    """The distinct cities of some countries: the same loose scan over the (country, city) index."""
    if not countries:
        return facet_query("city")
    query = sql.SQL(
        "WITH RECURSIVE facet(country, value) AS ("
        "(SELECT country, city FROM {table} WHERE country = ANY(%s) AND city IS NOT NULL "
        "ORDER BY country, city LIMIT 1) "
        "UNION ALL "
        "SELECT next.country, next.city FROM facet CROSS JOIN LATERAL ("
        "SELECT country, city FROM {table} WHERE country = ANY(%s) AND city IS NOT NULL "
        "AND (country, city) > (facet.country, facet.value) ORDER BY country, city LIMIT 1) AS next"
        ") SELECT DISTINCT value FROM facet ORDER BY value LIMIT %s"
    ).format(table=TABLE)
    return query, [list(countries), list(countries), FACET_LIMIT]


def encode_position_cursor(position: int) -> str:
    return encode_cursor(position)


def decode_position_cursor(cursor: str) -> int:
    """Raises InvalidCursor (a ValueError) for a cursor this API did not hand out."""
    position = decode_cursor(cursor)
    if type(position) is not int or not 0 <= position < 2**63:  # a bigint
        raise InvalidCursor
    return position


async def fetch(session: AsyncSession, query: sql.Composed, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Run a psycopg query on the session's connection (the same SQL the import source runs)."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, psycopg.AsyncConnection)
    async with raw.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()
