"""Async SQLAlchemy on psycopg 3, plus the two tables every service schema carries.

Each service owns one PostgreSQL schema. Besides its own tables that schema holds an `outbox` (events
committed together with the state change that caused them) and `processed_events` (the consumer side of
exactly-once: a redelivered event finds its id already there and becomes a no-op).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import structlog
from pydantic_core import from_json
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
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .backoff import Backoff, retry_while

log = structlog.get_logger(__name__)

T = TypeVar("T")

# SQLSTATEs of a server going away or not yet back (besides class 08, connection exceptions):
# administrator or crash shutdown, and "the database system is starting up".
_UNREACHABLE_STATES = frozenset({"57P01", "57P02", "57P03"})


def outbox_channel(schema: str) -> str:
    return f"leadflow_outbox_{schema}"


def create_engine(database_url: str, *, pool_size: int = 5) -> AsyncEngine:
    """Every engine of a service: connections checked before use (a restarted server leaves the pool's
    connections dead), and statements' parameter values kept out of errors, hence out of the logs (they
    are emails and names). JSON read from the database is decoded by pydantic-core's parser, several
    times faster than the standard library's on the sequencer's thousands of rows of lead values a batch."""
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=True,
        hide_parameters=True,
        json_deserializer=from_json,
    )


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached or dropped the connection (a server restart),
    as opposed to refusing a statement: the same work may simply be done again once it is back."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return exc.orig is not None and database_unreachable(exc.orig)
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _UNREACHABLE_STATES


# A database restarting: asked again soon, then less often, at least every 5 s.
UNREACHABLE_BACKOFF = Backoff(first=0.2, most=5.0)


async def retry_while_unreachable(
    work: Callable[[], Awaitable[T]],
    *,
    what: str,
    within: float,
    waiting: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """`work()` (a whole unit of work: it opens its own transaction), done again while the database is
    unreachable, for up to about `within` seconds; then the last error is raised. `waiting` runs before
    each retry (e.g. to tell JetStream a message is still being worked on)."""
    return await retry_while(
        work,
        retryable=database_unreachable,
        what=what,
        within=within,
        backoff=UNREACHABLE_BACKOFF,
        waiting=waiting,
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
