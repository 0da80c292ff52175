"""Schema `sequencer`: campaigns, with their settings and sequence."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from contracts.campaign_settings import CampaignStatus
from services.runtime.db import runtime_tables

SCHEMA = "sequencer"
metadata = MetaData(schema=SCHEMA)
outbox, processed_events = runtime_tables(metadata)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=CampaignStatus.DRAFT.value),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("schedule", JSONB, nullable=True),  # {"timezone", "days", "from", "to"}; null: any time
    Column("mailbox_ids", ARRAY(Uuid), nullable=False, server_default=text("'{}'::uuid[]")),
    Column("daily_limit", Integer, nullable=True),
    Column("stop_on_reply", Boolean, nullable=False, server_default=text("true")),
    Column("wait_for_validation", Boolean, nullable=False, server_default=text("true")),
    Column("send_to_unknown", Boolean, nullable=False, server_default=text("true")),
    # The steps as the user wrote them: [{"subject", "body", "delay_minutes"}], validated when saved.
    Column("steps", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    CheckConstraint("status IN ('draft', 'active', 'paused', 'completed')", name="ck_campaigns_status"),
    CheckConstraint("daily_limit IS NULL OR daily_limit >= 1", name="ck_campaigns_daily_limit"),
)
