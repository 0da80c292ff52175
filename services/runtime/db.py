"""Async SQLAlchemy on psycopg 3, plus the two tables every service schema carries.

Each service owns one PostgreSQL schema. Besides its own tables that schema holds an `outbox` (events
committed together with the state change that caused them) and `processed_events` (the consumer side of
exactly-once: a redelivered event finds its id already there and becomes a no-op).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def outbox_channel(schema: str) -> str:
    return f"leadflow_outbox_{schema}"


def create_engine(database_url: str, *, pool_size: int = 5) -> AsyncEngine:
    """Every engine of a service: connections checked before use (a restarted server leaves the pool's
    connections dead), and statements' parameter values kept out of errors, hence out of the logs (they
    are emails and names)."""
    return create_async_engine(
        database_url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, hide_parameters=True
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def psycopg_conninfo(database_url: str) -> str:
    """The same database as a libpq URL, for raw psycopg connections (COPY, LISTEN)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def runtime_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Add `outbox` and `processed_events` to a service's metadata (its schema comes from the metadata)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("subject", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    processed = Table(
        "processed_events",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return outbox, processed


def outbox_notify_ddl(schema: str) -> tuple[list[str], list[str]]:
    """DDL (upgrade, downgrade) for the trigger that wakes the relay when outbox rows are committed."""
    upgrade = [
        f"""
        CREATE FUNCTION "{schema}".outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{outbox_channel(schema)}', '');
            RETURN NULL;
        END $$
        """,
        f"""
        CREATE TRIGGER outbox_notify AFTER INSERT ON "{schema}".outbox
        FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".outbox_notify()
        """,
    ]
    downgrade = [
        f'DROP TRIGGER IF EXISTS outbox_notify ON "{schema}".outbox',
        f'DROP FUNCTION IF EXISTS "{schema}".outbox_notify()',
    ]
    return upgrade, downgrade


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
