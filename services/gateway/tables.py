"""Schema `gateway`: workspaces, API keys, and the read models the API serves (campaigns, lead_view)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.db import runtime_tables

SCHEMA = "gateway"
metadata = MetaData(schema=SCHEMA)
outbox, processed_events = runtime_tables(metadata)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, ForeignKey(workspaces.c.id, ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("gateway_campaigns_workspace", "workspace_id", "created_at"),
)

lead_view = Table(
    "lead_view",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Arrival order: stable keyset paging while leads are still being added.
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("import_id", Uuid),
    Column("email", Text, nullable=False),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("company_name", Text),
    Column("phone", Text),
    Column("website", Text),
    Column("city", Text),
    Column("industry", Text),
    Column("custom", JSONB, nullable=False, server_default="{}"),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("status_at", DateTime(timezone=True)),
    Column("manual_at", DateTime(timezone=True)),
    Column("manual_id", Uuid),
    Column("step", Integer, nullable=False, server_default="0"),
    Column("total_steps", Integer, nullable=False, server_default="0"),
    Column("validation", Text, nullable=False, server_default="pending"),
    Column("validation_reason", Text),
    Column("last_activity_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("lead_view_campaign_seq", "campaign_id", "seq"),
    Index("lead_view_campaign_status", "campaign_id", "status", "seq"),
)
