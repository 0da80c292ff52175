"""importer: imports, leads, rejected rows, outbox

Revision ID: importer_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.migration_ops import create_runtime_tables, drop_runtime_tables

revision = "importer_0001"
down_revision = None
branch_labels = ("importer",)
depends_on = None

S = "importer"


def upgrade() -> None:
    create_runtime_tables(S)
    op.create_table(
        "imports",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("source", sa.Text, nullable=False, server_default="csv"),
        sa.Column("object_name", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False, server_default=""),
        sa.Column("mapping", JSONB, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="running"),
        sa.Column("error", sa.Text),
        sa.Column("total_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("bytes_done", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("chunks_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("counts", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        schema=S,
    )
    op.create_index("imports_running", "imports", ["state"], schema=S, postgresql_where="state = 'running'")
    op.create_table(
        "leads",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("import_id", sa.Uuid, sa.ForeignKey(f"{S}.imports.id"), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("email_key", sa.Text, nullable=False),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("company_name", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("website", sa.Text),
        sa.Column("city", sa.Text),
        sa.Column("industry", sa.Text),
        sa.Column("custom", JSONB, nullable=False, server_default="{}"),
        sa.Column("source_row", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("campaign_id", "email_key", name="leads_campaign_email_key"),
        schema=S,
    )
    op.create_table(
        "rejected_rows",
        sa.Column(
            "import_id", sa.Uuid, sa.ForeignKey(f"{S}.imports.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("row", sa.Integer, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("rejected_rows", schema=S)
    op.drop_table("leads", schema=S)
    op.drop_index("imports_running", table_name="imports", schema=S)
    op.drop_table("imports", schema=S)
    drop_runtime_tables(S)
