"""Where an import's rows come from: an uploaded CSV, or a query over the directory or the pipeline.

A source is pickled to the import's worker process and opened there (it reads files and runs blocking
queries), so it must hold only picklable state until `open`. It yields `(row_number, values)` pairs, numbered from 1 in a deterministic order, so that a resumed import can skip
exactly the rows its last committed chunk covered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import psycopg
from psycopg import sql

from contracts.commands import LEAD_FIELDS
from services.importer.csv_source import open_csv
from services.importer.domain import validate_mapping


@dataclass
class OpenedSource:
    total_rows: int
    mapping: dict[str, str]
    rows: Iterator[tuple[int, dict[str, str]]]


class Source(Protocol):
    def open(self, skip: int) -> OpenedSource:
        """Check the whole input (raising `ImportInputError` before anything is imported), then stream it."""
        ...

    def close(self) -> None: ...


class CsvSource:
    def __init__(self, spool: BinaryIO, mapping: dict[str, str]) -> None:
        self._spool = spool
        self._mapping = mapping

    def open(self, skip: int) -> OpenedSource:
        stream = open_csv(self._spool)
        mapping = validate_mapping(self._mapping, stream.headers)
        # A full pass first: a decoding error, a NUL byte or an over-long line anywhere in the file fails
        # the import before its first lead is stored, never half-way. It also gives progress its total.
        total = stream.count_rows()
        self._spool.seek(0)
        return OpenedSource(total, mapping, open_csv(self._spool).rows(skip=skip))

    def close(self) -> None:
        pass


class CsvFileSource:
    """A CSV by path, so the import's worker process can open it itself (the object is picklable)."""

    def __init__(self, path: str, mapping: dict[str, str]) -> None:
        self._path = path
        self._mapping = mapping
        self._file: BinaryIO | None = None

    def open(self, skip: int) -> OpenedSource:
        self._file = Path(self._path).open("rb")  # noqa: SIM115 (closed by close())
        return CsvSource(self._file, self._mapping).open(skip)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class QuerySource:
    """Rows of a SELECT whose columns are named after lead fields; other columns become custom values."""

    def __init__(
        self, conninfo: str, query: sql.Composable, params: Sequence[Any], order_by: str = "id"
    ) -> None:
        self._conninfo = conninfo
        self._query = query
        self._params = list(params)
        self._order_by = order_by
        self._conn: psycopg.Connection[Any] | None = None

    def open(self, skip: int) -> OpenedSource:
        self._conn = psycopg.connect(self._conninfo)
        count = sql.SQL("SELECT count(*) FROM ({}) AS matches").format(self._query)
        row = self._conn.execute(count, self._params).fetchone()
        total = int(row[0]) if row else 0
        cursor = self._conn.cursor(name=f"import_source_{uuid.uuid4().hex[:12]}")
        cursor.execute(
            sql.SQL("SELECT * FROM ({}) AS matches ORDER BY {} OFFSET %s").format(
                self._query, sql.Identifier(self._order_by)
            ),
            [*self._params, skip],
        )
        columns = [c.name for c in cursor.description or ()]
        mapping = {name: name for name in LEAD_FIELDS if name in columns}
        return OpenedSource(total, mapping, self._iterate(cursor, columns, skip))

    @staticmethod
    def _iterate(
        cursor: psycopg.ServerCursor[Any], columns: list[str], skip: int
    ) -> Iterator[tuple[int, dict[str, str]]]:
        number = skip
        while batch := cursor.fetchmany(2000):
            for values in batch:
                number += 1
                yield (
                    number,
                    {
                        column: "" if value is None else str(value)
                        for column, value in zip(columns, values, strict=True)
                        if column != "id"
                    },
                )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
