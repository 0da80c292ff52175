"""`python -m tests.integration.database_error_probe DATABASE_URL`: statements that fail on values (emails and
names), logged the ways a Leadflow service logs failures, with its logging (JSON to stderr, a terminal's
one-line errors when given `--file PATH`).

It runs in its own process because `configure_logging` takes over the process's logging.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import psycopg
import structlog
from sqlalchemy import text

from services.runtime.db import create_engine, psycopg_conninfo
from services.runtime.logs import configure_logging

EMAILS = ("ana@firma.cz", "bob@firma.cz", "cyril@firma.cz", "dana@firma.cz")
NAME = "Zdeňka Nováková"

log = structlog.get_logger("probe")


async def fail_through_sqlalchemy(database_url: str) -> None:
    engine = create_engine(database_url)
    statements = [
        # A unique violation: DETAIL names the key's value.
        ("INSERT INTO probe_leads (email, name) VALUES (:email, :name)", {"email": EMAILS[0], "name": NAME}),
        # A check violation: DETAIL holds the whole row.
        ("INSERT INTO probe_leads (email, name) VALUES (:email, :name)", {"email": EMAILS[1], "name": ""}),
        # A value the type refuses: the message quotes it.
        ("SELECT CAST(:email AS uuid)", {"email": EMAILS[2]}),
    ]
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS probe_leads"))
            await conn.execute(
                text("CREATE TABLE probe_leads (email text UNIQUE, name text CHECK (name <> ''))")
            )
            await conn.execute(
                text("INSERT INTO probe_leads VALUES (:email, :name)"), {"email": EMAILS[0], "name": NAME}
            )
        for statement, parameters in statements:
            try:
                async with engine.begin() as conn:
                    await conn.execute(text(statement), parameters)
            except Exception as exc:
                log.warning("handler failed, will retry", error=repr(exc))
                log.exception("statement failed")
                logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS probe_leads"))
        await engine.dispose()


async def fail_through_psycopg(database_url: str) -> None:
    """A raw connection, as the importer's COPY and the outbox relay use: CONTEXT quotes the row's value."""
    async with await psycopg.AsyncConnection.connect(psycopg_conninfo(database_url)) as conn:
        try:
            await conn.execute("CREATE TEMPORARY TABLE probe_ids (id uuid)")
            async with conn.cursor().copy("COPY probe_ids (id) FROM STDIN") as copy:
                await copy.write_row([EMAILS[3]])
        except psycopg.Error as exc:
            log.error("import chunk failed", error=str(exc))
            log.exception("import chunk failed")


def main() -> None:
    database_url = sys.argv[1]
    file = Path(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--file" else None
    configure_logging("DEBUG", json=True, file=file)
    asyncio.run(fail_through_sqlalchemy(database_url))
    asyncio.run(fail_through_psycopg(database_url))


if __name__ == "__main__":
    main()
