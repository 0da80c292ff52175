"""Schema `mailer`: sender mailboxes (passwords encrypted with services/runtime/secrets.py)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, UniqueConstraint, Uuid, func

from services.runtime.db import runtime_tables

SCHEMA = "mailer"
metadata = MetaData(schema=SCHEMA)
outbox, processed_events = runtime_tables(metadata)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("email", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("smtp_host", Text, nullable=False),
    Column("smtp_port", Integer, nullable=False),
    Column("smtp_username", Text, nullable=False),
    Column("smtp_password_encrypted", Text, nullable=False),
    Column("smtp_security", Text, nullable=False),
    Column("imap_host", Text),
    Column("imap_port", Integer),
    Column("imap_username", Text),
    Column("imap_password_encrypted", Text),
    Column("imap_security", Text),
    Column("daily_limit", Integer, nullable=False, server_default="30"),
    Column("min_gap_seconds", Integer, nullable=False, server_default="120"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Listing a workspace's mailboxes pages by id.
    UniqueConstraint("workspace_id", "id", name="uq_mailer_mailboxes_workspace_id"),
)
