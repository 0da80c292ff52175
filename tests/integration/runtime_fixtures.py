"""A throwaway service schema for exercising the runtime (outbox, consumers) against real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import Column, Integer, MetaData, Table, Text, Uuid, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.runtime.db import create_engine, outbox_notify_ddl, runtime_tables, session_factory


@dataclass
class Schema:
    name: str
    metadata: MetaData
    outbox: Table
    processed_events: Table
    effects: Table
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


async def make_schema(database_url: str) -> AsyncIterator[Schema]:
    name = f"t_{uuid.uuid4().hex[:8]}"
    metadata = MetaData(schema=name)
    outbox, processed = runtime_tables(metadata)
    effects = Table(
        "effects",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False),
        Column("note", Text, nullable=False),
    )
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(metadata.create_all)
        for statement in outbox_notify_ddl(name)[0]:
            await conn.execute(text(statement))
    try:
        yield Schema(name, metadata, outbox, processed, effects, engine, session_factory(engine))
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await engine.dispose()
