"""sequencer: campaigns, outbox

Revision ID: sequencer_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import create_runtime_tables, drop_runtime_tables

revision = "sequencer_0001"
down_revision = None
branch_labels = ("sequencer",)
depends_on = None

S = "sequencer"


def upgrade() -> None:
    create_runtime_tables(S)
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="draft"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_index("ix_sequencer_campaigns_workspace_id", "campaigns", ["workspace_id"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_sequencer_campaigns_workspace_id", table_name="campaigns", schema=S)
    op.drop_table("campaigns", schema=S)
    drop_runtime_tables(S)
