"""Schema `sequencer`: campaigns."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, Table, Text, Uuid, func

from services.runtime.db import runtime_tables
from services.sequencer.domain import CampaignStatus

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
)
