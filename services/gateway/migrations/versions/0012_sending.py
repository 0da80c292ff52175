"""gateway: sending in the read model: a lead's next step, a campaign's daily send counts, link unsubscribes

Revision ID: gateway_0012
Revises: gateway_0011
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0012"
down_revision = "gateway_0011"
branch_labels = None
depends_on = None

S = "gateway"


def upgrade() -> None:
    op.add_column("lead_view", sa.Column("next_step", sa.Integer, nullable=True), schema=S)
    op.add_column("lead_view", sa.Column("next_step_at", sa.DateTime(timezone=True), nullable=True), schema=S)
    op.add_column(
        "lead_view", sa.Column("next_step_as_of", sa.DateTime(timezone=True), nullable=True), schema=S
    )
    op.create_table(
        "campaign_days",
        sa.Column("campaign_id", sa.Uuid, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bounced", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unsubscribed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completed", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.create_table(
        "link_unsubscribes",
        sa.Column("lead_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("link_unsubscribes", schema=S)
    op.drop_table("campaign_days", schema=S)
    op.drop_column("lead_view", "next_step_as_of", schema=S)
    op.drop_column("lead_view", "next_step_at", schema=S)
    op.drop_column("lead_view", "next_step", schema=S)
