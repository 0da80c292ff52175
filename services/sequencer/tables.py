"""Schema `sequencer`: campaigns, with their settings and sequence; each lead's progress through its
campaign's steps; the StepDue emitted per campaign-day (the campaign's daily limit); the mailboxes' health;
the latest sends and which bounced (bounce protection)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from contracts.campaign_settings import CampaignStatus, PauseReason
from services.runtime.db import runtime_tables
from services.sequencer.progress import LeadState

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
    # A reply stops the replier's company's other leads too (since sequencer_0006; company.py).
    Column("stop_on_company_reply", Boolean, nullable=False, server_default=text("false")),
    Column("wait_for_validation", Boolean, nullable=False, server_default=text("true")),
    Column("send_to_unknown", Boolean, nullable=False, server_default=text("true")),
    # The steps as the user wrote them: [{"subject", "body", "delay_minutes"}], validated when saved.
    Column("steps", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # When the campaign was first activated: step 1 of a lead is due from max(sendable, activated) on.
    Column("activated_at", DateTime(timezone=True), nullable=True),
    # Bounce protection (since sequencer_0005): its setting ({"enabled", "threshold_percent", "window",
    # "min_sample"}; a key left out is the default), why the campaign paused itself and that in words (null:
    # not paused by itself), and the last resume (only later sends are judged).
    Column("bounce_protection", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("paused_reason", Text, nullable=True),
    Column("paused_detail", Text, nullable=True),
    Column("protected_since", DateTime(timezone=True), nullable=True),
    CheckConstraint("status IN ('draft', 'active', 'paused', 'completed')", name="ck_campaigns_status"),
    CheckConstraint(
        "paused_reason IS NULL OR paused_reason IN (" + ", ".join(f"'{r.value}'" for r in PauseReason) + ")",
        name="ck_campaigns_paused_reason",
    ),
    CheckConstraint("daily_limit IS NULL OR daily_limit >= 1", name="ck_campaigns_daily_limit"),
)

LEAD_STATES = tuple(state.value for state in LeadState)
# A lead address's domain (after the last "@"), lowercase; null without an "@". `company.email_domain` reads
# it the same way. The company stop looks leads up by it (the index below, since sequencer_0006), written as
# PostgreSQL writes the index's expression back, so the migrations' check finds no drift.
EMAIL_DOMAIN = """lower("substring"(email, '@([^@]*)$'::text))"""

# One row per lead of a campaign: what a template may use, its verdict and where it is in the sequence.
leads = Table(
    "leads",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("campaign_id", Uuid, nullable=False, index=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("email", Text, nullable=False),
    # The ImportedLead's text fields and {"custom": {...}}; null: known from a verdict, not imported yet.
    Column("values", JSONB, nullable=True),
    Column("verdict", Text, nullable=True),
    Column("verdict_run", Integer, nullable=True),
    Column("state", Text, nullable=False, server_default="waiting"),
    Column("next_step", Integer, nullable=False, server_default=text("1")),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("sendable_at", DateTime(timezone=True), nullable=True),
    # The thread's Message-IDs, oldest first: one per step sent.
    Column("message_ids", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("thread_mailbox_id", Uuid, nullable=True),
    Column("stop_reason", Text, nullable=True),
    Column("missing", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    # An out-of-office's hold (since sequencer_0004): no step is due before it; null: none.
    Column("not_before", DateTime(timezone=True), nullable=True),
    # Since sequencer_0006: the last step's send time, and the state a stop found (what a resume of a
    # stop a person overturned goes on from; null: not stopped, or stopped before 0006).
    Column("last_sent_at", DateTime(timezone=True), nullable=True),
    Column("stopped_from", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in LEAD_STATES) + ")", name="ck_leads_state"),
    # The emission pass's selection: a campaign's scheduled leads by due time.
    Index(
        "ix_sequencer_leads_due",
        "campaign_id",
        "due_at",
        postgresql_where=text("state = 'scheduled'"),
    ),
    # A campaign's leads at one company (`stop_on_company_reply`).
    Index("ix_sequencer_leads_company", "campaign_id", text(EMAIL_DOMAIN)),
)

# StepDue emitted per campaign and campaign-local day: the campaign's daily limit.
campaign_days = Table(
    "campaign_days",
    metadata,
    Column("campaign_id", Uuid, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("emitted", Integer, nullable=False, server_default=text("0")),
)

# Bounce protection's record of the latest sends (EmailSent), each marked when it bounced (EmailBounced by
# its message_id; a bounce whose send is not known is a row of its own, bounced). A rate is counted over a
# campaign's or a mailbox's latest rows by sent_at.
send_outcomes = Table(
    "send_outcomes",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("campaign_id", Uuid, nullable=False),
    Column("mailbox_id", Uuid, nullable=True),
    Column("mailbox", Text, nullable=True),  # its address, for the pause's words
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("bounced", Boolean, nullable=False, server_default=text("false")),
    Index("ix_sequencer_send_outcomes_campaign", "campaign_id", "sent_at"),
    Index("ix_sequencer_send_outcomes_mailbox", "mailbox_id", "sent_at"),
)

# The mailer's word on each mailbox (MailboxHealthChanged), newest wins: a campaign's warnings.
mailbox_health = Table(
    "mailbox_health",
    metadata,
    Column("mailbox_id", Uuid, primary_key=True),
    Column("email", Text, nullable=False),
    Column("healthy", Boolean, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)
