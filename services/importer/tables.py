"""Schema `importer`: imports, the leads of each campaign (identity and dedupe), rejected rows."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.db import runtime_tables

SCHEMA = "importer"
metadata = MetaData(schema=SCHEMA)
outbox, processed_events = runtime_tables(metadata)

imports = Table(
    "imports",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("source", Text, nullable=False, server_default="csv"),
    Column("object_name", Text, nullable=False),
    Column("filename", Text, nullable=False, server_default=""),
    Column("mapping", JSONB, nullable=False),
    Column("state", Text, nullable=False, server_default="running"),
    Column("error", Text),
    Column("total_bytes", BigInteger, nullable=False, server_default="0"),
    Column("bytes_done", BigInteger, nullable=False, server_default="0"),
    # Checkpoint: data rows consumed and LeadImported chunks emitted, committed with each chunk.
    Column("rows_done", Integer, nullable=False, server_default="0"),
    Column("chunks_done", Integer, nullable=False, server_default="0"),
    Column("counts", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Index("imports_running", "state", postgresql_where="state = 'running'"),
)

leads = Table(
    "leads",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("import_id", Uuid, ForeignKey(imports.c.id), nullable=False),
    Column("email", Text, nullable=False),
    # The dedupe key: the normalised address, case-folded.
    Column("email_key", Text, nullable=False),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("company_name", Text),
    Column("phone", Text),
    Column("website", Text),
    Column("city", Text),
    Column("industry", Text),
    Column("custom", JSONB, nullable=False, server_default="{}"),
    Column("source_row", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("campaign_id", "email_key", name="leads_campaign_email_key"),
)

rejected_rows = Table(
    "rejected_rows",
    metadata,
    Column("import_id", Uuid, ForeignKey(imports.c.id, ondelete="CASCADE"), primary_key=True),
    Column("row", Integer, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("value", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("reason", Text, nullable=False),
)
