"""Bulk inserts through COPY: the path for the rows of a whole import chunk or event batch.

SQLAlchemy's executemany sends one INSERT per row (psycopg pipeline mode); COPY into a staging table and a
single `INSERT … SELECT … ON CONFLICT DO NOTHING` is several times faster and deduplicates in one statement.
It runs on the session's own connection, so it commits or rolls back with the rest of the transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def _as_text(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()  # bytea's hex input (its backslash is escaped for COPY below)
    return str(value)


def copy_text(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows in COPY's text format. Built in plain Python so it can run in a worker thread, ahead of the
    transaction that sends it (psycopg's `write_row` would do the same work on the event loop)."""
    lines = []
    for row in rows:
        fields = [None if v is None else v if type(v) is str else _as_text(v) for v in row]
        present = [f for f in fields if f is not None]
        if _NEEDS_ESCAPE.search("".join(present)):  # rare: escape only rows that need it
            fields = [None if f is None else f.translate(_COPY_ESCAPES) for f in fields]
        lines.append("\t".join("\\N" if f is None else f for f in fields))
    lines.append("")
    return "\n".join(lines).encode()


async def copy_insert(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]] | bytes,
    *,
    where: sql.Composable | None = None,
    conflict_target: sql.Composable | None = None,
    returning: Sequence[str | sql.Composable] = (),
) -> list[tuple[Any, ...]]:
    """Insert `rows` (values in `columns` order, or their `copy_text`) skipping conflicts; returns the
    `returning` columns (names, or SQL expressions) of the rows actually inserted. `where` filters the
    staged rows (alias `s`)."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, psycopg.AsyncConnection)
    target = sql.Identifier(table.schema or "public", table.name)
    stage = sql.Identifier(f"stage_{table.schema}_{table.name}")
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    async with raw.cursor() as cur:
        # ON COMMIT DELETE ROWS: the pooled connection keeps the table; each transaction starts it empty.
        await cur.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS INCLUDING IDENTITY) ON COMMIT DELETE ROWS"
            ).format(stage, target)
        )
        async with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, column_list)) as copy:
            if isinstance(rows, bytes):
                await copy.write(rows)
            else:
                for row in rows:
                    await copy.write_row(row)
        statement = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} AS s{} ON CONFLICT {}DO NOTHING").format(
            target,
            column_list,
            column_list,
            stage,
            sql.SQL(" WHERE ") + where if where is not None else sql.SQL(""),
            conflict_target + sql.SQL(" ") if conflict_target is not None else sql.SQL(""),
        )
        if returning:
            statement += sql.SQL(" RETURNING ") + sql.SQL(", ").join(
                sql.Identifier(r) if isinstance(r, str) else r for r in returning
            )
        await cur.execute(statement)
        inserted = await cur.fetchall() if returning else []
        # Rows of this statement stay staged until commit; a second call in the same transaction starts clean.
        await cur.execute(sql.SQL("DELETE FROM {}").format(stage))
    return [tuple(row) for row in inserted]
