"""sequencer: bounce protection (a campaign's setting, why it paused itself, its last resume) and the record
of the latest sends and which bounced

Revision ID: sequencer_0005
Revises: sequencer_0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "sequencer_0005"
down_revision = "sequencer_0004"
branch_labels = None
depends_on = None

S = "sequencer"
REASONS = ("bounce_protection",)


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column("bounce_protection", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        schema=S,
    )
    op.add_column("campaigns", sa.Column("paused_reason", sa.Text, nullable=True), schema=S)
    op.add_column("campaigns", sa.Column("paused_detail", sa.Text, nullable=True), schema=S)
    op.add_column(
        "campaigns", sa.Column("protected_since", sa.DateTime(timezone=True), nullable=True), schema=S
    )
    op.create_check_constraint(
        "ck_campaigns_paused_reason",
        "campaigns",
        "paused_reason IS NULL OR paused_reason IN (" + ", ".join(f"'{r}'" for r in REASONS) + ")",
        schema=S,
    )
    op.create_table(
        "send_outcomes",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("mailbox_id", sa.Uuid, nullable=True),
        sa.Column("mailbox", sa.Text, nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bounced", sa.Boolean, nullable=False, server_default=sa.text("false")),
        schema=S,
    )
    op.create_index(
        "ix_sequencer_send_outcomes_campaign", "send_outcomes", ["campaign_id", "sent_at"], schema=S
    )
    op.create_index(
        "ix_sequencer_send_outcomes_mailbox", "send_outcomes", ["mailbox_id", "sent_at"], schema=S
    )


def downgrade() -> None:
    op.drop_index("ix_sequencer_send_outcomes_mailbox", table_name="send_outcomes", schema=S)
    op.drop_index("ix_sequencer_send_outcomes_campaign", table_name="send_outcomes", schema=S)
    op.drop_table("send_outcomes", schema=S)
    op.drop_constraint("ck_campaigns_paused_reason", "campaigns", schema=S)
    op.drop_column("campaigns", "protected_since", schema=S)
    op.drop_column("campaigns", "paused_detail", schema=S)
    op.drop_column("campaigns", "paused_reason", schema=S)
    op.drop_column("campaigns", "bounce_protection", schema=S)
