"""Schema `mailer`: sender mailboxes (passwords encrypted with services/runtime/secrets.py), the copy of the
campaigns it sends for, the send queue, and the pace of each mailbox and campaign."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

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

# The mailer's copy of each campaign's sending settings (CampaignUpdated; the newest `updated_at` wins).
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("status", Text, nullable=False),
    Column("mailbox_ids", ARRAY(Uuid), nullable=False),
    Column("daily_limit", Integer),
    Column("schedule", JSONB),
    Column("stop_on_reply", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per (lead, step) to send: queued → sending (reserved, recorded before DATA) → sent | bounced |
# failed, or uncertain (its lease lapsed while sending), or cancelled (the lead's sequence stopped).
sends = Table(
    "sends",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("lead_id", Uuid, nullable=False),
    Column("step", Integer, nullable=False),
    Column("total_steps", Integer, nullable=False),
    Column("email", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("in_reply_to", Text),
    Column("references", ARRAY(Text), nullable=False),
    Column("preferred_mailbox_id", Uuid),
    Column("state", Text, nullable=False),
    Column("mailbox_id", Uuid),
    Column("message_id", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("leased_until", DateTime(timezone=True)),
    Column("token", Uuid),
    Column("smtp_code", Integer),
    Column("last_error", Text),
    Column("queued_at", DateTime(timezone=True), nullable=False),
    # The StepDue's own `occurred_at` (NULL for a send queued before mailer_0004): a stop of the lead at or
    # after it cancels the send (`lead_stops`).
    Column("requested_at", DateTime(timezone=True)),
    Column("reserved_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("lead_id", "step", name="uq_mailer_sends_lead_step"),
    Index("ix_mailer_sends_queued", "not_before", postgresql_where=text("state = 'queued'")),
    # By mailbox, not by lease end: a claim then changes no indexed column (migration mailer_0003).
    Index("ix_mailer_sends_sending", "mailbox_id", postgresql_where=text("state = 'sending'")),
    Index("ix_mailer_sends_campaign", "campaign_id", "id"),
    # Room on each page for a claimed row's new version (migration mailer_0003).
    postgresql_with={"fillfactor": 50},
)

# Each stopped lead's latest stop (`stops_sequence`), by its event's time: a StepDue the sequencer emitted
# at or before it is never sent, though its durable may bring it after the stop's (mailer_0004). One
# emitted later (the lead resumed: a person overturned the reply) is newer and goes out.
lead_stops = Table(
    "lead_stops",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("campaign_id", Uuid, nullable=False),
    Column("stopped_at", DateTime(timezone=True), nullable=False),
)

# What each mailbox has sent today (UTC day) and its health; locked FOR UPDATE while sends are reserved.
mailbox_pace = Table(
    "mailbox_pace",
    metadata,
    Column("mailbox_id", Uuid, primary_key=True),
    Column("day", Date, nullable=False),
    Column("sent_today", Integer, nullable=False, server_default="0"),
    Column("last_sent_at", DateTime(timezone=True)),
    Column("next_gap", Float, nullable=False, server_default="0"),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("healthy", Boolean, nullable=False, server_default="true"),
    Column("unhealthy_reason", Text, nullable=False, server_default=""),
    Column("probe_after", DateTime(timezone=True)),
)

# What each campaign has sent today (a day of its schedule's time zone), and where its rotation stands.
campaign_pace = Table(
    "campaign_pace",
    metadata,
    Column("campaign_id", Uuid, primary_key=True),
    Column("day", Date, nullable=False),
    Column("sent_today", Integer, nullable=False, server_default="0"),
    Column("rotation", Integer, nullable=False, server_default="0"),
)
