"""Writing rows into the directory: one COPY in one transaction, the table emptied first on request."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import psycopg
from psycopg import sql

from services.importer.directory.rows import CSV_COLUMNS, TABLE, DirectoryRow

COPY = sql.SQL("COPY {} ({}) FROM STDIN").format(TABLE, sql.SQL(", ").join(map(sql.Identifier, CSV_COLUMNS)))


class DirectoryBusy(Exception):
    """`--replace` could not empty the directory: something is reading it (a running directory import)."""


def copy_rows(
    conninfo: str,
    rows: Iterable[DirectoryRow],
    *,
    replace: bool,
    progress: Callable[[int], None] | None = None,
) -> int:
    """COPY rows into the directory in one transaction (emptied first with `replace`); returns the count.

    A failure anywhere rolls everything back, so the directory is never left half-replaced.
    """
    count = 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        if replace:
            # A running directory import reads the table for minutes, and every search would queue behind a
            # TRUNCATE waiting for it; better to give up soon and say why.
            cur.execute("SET LOCAL lock_timeout = '10s'")
            try:
                cur.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(TABLE))
            except psycopg.errors.LockNotAvailable as exc:
                raise DirectoryBusy(
                    "The directory is being read (most likely by a running directory import); "
                    "load it again with --replace when that has finished."
                ) from exc
            cur.execute("SET LOCAL lock_timeout = 0")
        with cur.copy(COPY) as copy:
            for row in rows:
                copy.write_row(row.values())
                count += 1
                if progress is not None and count % 1000 == 0:
                    progress(count)
    if progress is not None:
        progress(count)
    # Fresh statistics for the planner and a visibility map for index-only counts: without them the
    # first searches after a big load scan the table.
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(TABLE))
    return count
