"""validator: validations, outbox

Revision ID: validator_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import create_runtime_tables, drop_runtime_tables

revision = "validator_0001"
down_revision = None
branch_labels = ("validator",)
depends_on = None

S = "validator"


def upgrade() -> None:
    create_runtime_tables(S)
    op.create_table(
        "validations",
        sa.Column("lead_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("held", sa.Boolean, nullable=False, server_default="false"),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("verdict", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("mx", sa.Text),
        sa.Column("smtp_code", sa.Integer),
        sa.Column("catch_all", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("disposable", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("role", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("validated_at", sa.DateTime(timezone=True)),
        schema=S,
    )
    op.create_index(
        "validations_due",
        "validations",
        ["next_attempt_at"],
        schema=S,
        postgresql_where=sa.text("state <> 'done'"),
    )
    op.create_index("validations_campaign", "validations", ["campaign_id", "state"], schema=S)


def downgrade() -> None:
    op.drop_index("validations_campaign", table_name="validations", schema=S)
    op.drop_index("validations_due", table_name="validations", schema=S)
    op.drop_table("validations", schema=S)
    drop_runtime_tables(S)
