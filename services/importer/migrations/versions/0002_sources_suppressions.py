"""importer: import parameters, progress total, cancellation, reports; workspace suppression list

Revision ID: importer_0002
Revises: importer_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "importer_0002"
down_revision = "importer_0001"
branch_labels = None
depends_on = None

S = "importer"


def upgrade() -> None:
    op.alter_column("imports", "object_name", nullable=True, schema=S)
    op.add_column("imports", sa.Column("params", JSONB, nullable=False, server_default="{}"), schema=S)
    op.add_column("imports", sa.Column("total_rows", sa.Integer), schema=S)
    op.add_column(
        "imports", sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default="false"), schema=S
    )
    op.add_column("imports", sa.Column("report_object", sa.Text), schema=S)
    op.create_table(
        "suppressions",
        sa.Column("workspace_id", sa.Uuid, primary_key=True),
        sa.Column("email_key", sa.Text, primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("suppressions", schema=S)
    op.drop_column("imports", "report_object", schema=S)
    op.drop_column("imports", "cancel_requested", schema=S)
    op.drop_column("imports", "total_rows", schema=S)
    op.drop_column("imports", "params", schema=S)
    op.execute(f"UPDATE {S}.imports SET object_name = '' WHERE object_name IS NULL")
    op.alter_column("imports", "object_name", nullable=False, schema=S)
