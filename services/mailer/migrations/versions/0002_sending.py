"""mailer: campaigns copy, send queue, mailbox and campaign pace

Revision ID: mailer_0002
Revises: mailer_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "mailer_0002"
down_revision = "mailer_0001"
branch_labels = None
depends_on = None

S = "mailer"


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("mailbox_ids", sa.ARRAY(sa.Uuid), nullable=False),
        sa.Column("daily_limit", sa.Integer),
        sa.Column("schedule", JSONB),
        sa.Column("stop_on_reply", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_table(
        "sends",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("total_steps", sa.Integer, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("in_reply_to", sa.Text),
        sa.Column("references", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("preferred_mailbox_id", sa.Uuid),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("mailbox_id", sa.Uuid),
        sa.Column("message_id", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True)),
        sa.Column("token", sa.Uuid),
        sa.Column("smtp_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("lead_id", "step", name="uq_mailer_sends_lead_step"),
        schema=S,
    )
    op.create_index(
        "ix_mailer_sends_queued",
        "sends",
        ["not_before"],
        schema=S,
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(
        "ix_mailer_sends_sending",
        "sends",
        ["leased_until"],
        schema=S,
        postgresql_where=sa.text("state = 'sending'"),
    )
    op.create_index("ix_mailer_sends_campaign", "sends", ["campaign_id", "id"], schema=S)
    op.create_table(
        "mailbox_pace",
        sa.Column("mailbox_id", sa.Uuid, primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("sent_today", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_sent_at", sa.DateTime(timezone=True)),
        sa.Column("next_gap", sa.Float, nullable=False, server_default="0"),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("healthy", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("unhealthy_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("probe_after", sa.DateTime(timezone=True)),
        schema=S,
    )
    op.create_table(
        "campaign_pace",
        sa.Column("campaign_id", sa.Uuid, primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("sent_today", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rotation", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )


def downgrade() -> None:
    for table in ("campaign_pace", "mailbox_pace", "sends", "campaigns"):
        op.drop_table(table, schema=S)
