"""Schema `importer`: imports, the leads of each campaign (identity and dedupe), rejected rows."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    # csv: the upload's object store name; directory/pipeline imports have none.
    Column("object_name", Text),
    Column("filename", Text, nullable=False, server_default=""),
    Column("mapping", JSONB, nullable=False),
    # Source-specific parameters: the directory filter, the pipeline ids or filter.
    Column("params", JSONB, nullable=False, server_default="{}"),
    Column("total_rows", Integer),
    Column("cancel_requested", Boolean, nullable=False, server_default="false"),
    Column("report_object", Text),
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

suppressions = Table(
    "suppressions",
    metadata,
    Column("workspace_id", Uuid, primary_key=True),
    Column("email_key", Text, primary_key=True),
    Column("email", Text, nullable=False),
    Column("reason", Text, nullable=False),
    # manual (API), unsubscribed (LeadUnsubscribed), bounced (hard EmailBounced)
    Column("source", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
