"""sequencer: each lead's progress, the campaign-day counters, the mailboxes' health

Revision ID: sequencer_0003
Revises: sequencer_0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "sequencer_0003"
down_revision = "sequencer_0002"
branch_labels = None
depends_on = None

S = "sequencer"
STATES = ("waiting", "scheduled", "due", "completed", "stopped", "uncertain", "not_sendable")


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True), schema=S)
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.Uuid, primary_key=True),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("values", JSONB, nullable=True),
        sa.Column("verdict", sa.Text, nullable=True),
        sa.Column("verdict_run", sa.Integer, nullable=True),
        sa.Column("state", sa.Text, nullable=False, server_default="waiting"),
        sa.Column("next_step", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sendable_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_ids", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
        sa.Column("thread_mailbox_id", sa.Uuid, nullable=True),
        sa.Column("stop_reason", sa.Text, nullable=True),
        sa.Column("missing", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")", name="ck_leads_state"),
        schema=S,
    )
    op.create_index("ix_sequencer_leads_campaign_id", "leads", ["campaign_id"], schema=S)
    op.create_index(
        "ix_sequencer_leads_due",
        "leads",
        ["campaign_id", "due_at"],
        schema=S,
        postgresql_where=sa.text("state = 'scheduled'"),
    )
    op.create_table(
        "campaign_days",
        sa.Column("campaign_id", sa.Uuid, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("emitted", sa.Integer, nullable=False, server_default=sa.text("0")),
        schema=S,
    )
    op.create_table(
        "mailbox_health",
        sa.Column("mailbox_id", sa.Uuid, primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("healthy", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("mailbox_health", schema=S)
    op.drop_table("campaign_days", schema=S)
    op.drop_index("ix_sequencer_leads_due", table_name="leads", schema=S)
    op.drop_index("ix_sequencer_leads_campaign_id", table_name="leads", schema=S)
    op.drop_table("leads", schema=S)
    op.drop_column("campaigns", "activated_at", schema=S)
