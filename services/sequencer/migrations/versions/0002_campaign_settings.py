"""sequencer: a campaign's settings and sequence

Revision ID: sequencer_0002
Revises: sequencer_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "sequencer_0002"
down_revision = "sequencer_0001"
branch_labels = None
depends_on = None

S = "sequencer"


def upgrade() -> None:
    columns: tuple[sa.Column[object], ...] = (
        sa.Column("schedule", JSONB, nullable=True),
        sa.Column("mailbox_ids", ARRAY(sa.Uuid), nullable=False, server_default=sa.text("'{}'::uuid[]")),
        sa.Column("daily_limit", sa.Integer, nullable=True),
        sa.Column("stop_on_reply", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("wait_for_validation", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("send_to_unknown", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("steps", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    for column in columns:
        op.add_column("campaigns", column, schema=S)
    op.create_check_constraint(
        "ck_campaigns_status", "campaigns", "status IN ('draft', 'active', 'paused', 'completed')", schema=S
    )
    op.create_check_constraint(
        "ck_campaigns_daily_limit", "campaigns", "daily_limit IS NULL OR daily_limit >= 1", schema=S
    )


def downgrade() -> None:
    op.drop_constraint("ck_campaigns_daily_limit", "campaigns", schema=S)
    op.drop_constraint("ck_campaigns_status", "campaigns", schema=S)
    for name in (
        "steps",
        "send_to_unknown",
        "wait_for_validation",
        "stop_on_reply",
        "daily_limit",
        "mailbox_ids",
        "schedule",
    ):
        op.drop_column("campaigns", name, schema=S)
