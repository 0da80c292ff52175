"""gateway: workspaces, api keys, campaigns and lead_view read models, outbox

Revision ID: gateway_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.migration_ops import create_runtime_tables, drop_runtime_tables

revision = "gateway_0001"
down_revision = None
branch_labels = ("gateway",)
depends_on = None

S = "gateway"


def upgrade() -> None:
    create_runtime_tables(S)
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "workspace_id", sa.Uuid, sa.ForeignKey(f"{S}.workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        schema=S,
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_index("gateway_campaigns_workspace", "campaigns", ["workspace_id", "created_at"], schema=S)
    op.create_table(
        "lead_view",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("import_id", sa.Uuid),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("company_name", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("website", sa.Text),
        sa.Column("city", sa.Text),
        sa.Column("industry", sa.Text),
        sa.Column("custom", JSONB, nullable=False, server_default="{}"),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("status_at", sa.DateTime(timezone=True)),
        sa.Column("manual_at", sa.DateTime(timezone=True)),
        sa.Column("manual_id", sa.Uuid),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total_steps", sa.Integer, nullable=False, server_default="0"),
        sa.Column("validation", sa.Text, nullable=False, server_default="pending"),
        sa.Column("validation_reason", sa.Text),
        sa.Column("last_activity_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_index("lead_view_campaign_seq", "lead_view", ["campaign_id", "seq"], schema=S)
    op.create_index("lead_view_campaign_status", "lead_view", ["campaign_id", "status", "seq"], schema=S)


def downgrade() -> None:
    op.drop_table("lead_view", schema=S)
    op.drop_index("gateway_campaigns_workspace", table_name="campaigns", schema=S)
    op.drop_table("campaigns", schema=S)
    op.drop_table("api_keys", schema=S)
    op.drop_table("workspaces", schema=S)
    drop_runtime_tables(S)
