"""Alembic operations for the tables every service schema carries (see `services.runtime.db`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from .db import outbox_notify_ddl


def create_runtime_tables(schema: str) -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    for statement in outbox_notify_ddl(schema)[0]:
        op.execute(statement)


def drop_runtime_tables(schema: str) -> None:
    for statement in outbox_notify_ddl(schema)[1]:
        op.execute(statement)
    op.drop_table("processed_events", schema=schema)
    op.drop_table("outbox", schema=schema)
