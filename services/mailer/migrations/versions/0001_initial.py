"""mailer: mailboxes, outbox

Revision ID: mailer_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import create_runtime_tables, drop_runtime_tables

revision = "mailer_0001"
down_revision = None
branch_labels = ("mailer",)
depends_on = None

S = "mailer"


def upgrade() -> None:
    create_runtime_tables(S)
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("smtp_host", sa.Text, nullable=False),
        sa.Column("smtp_port", sa.Integer, nullable=False),
        sa.Column("smtp_username", sa.Text, nullable=False),
        sa.Column("smtp_password_encrypted", sa.Text, nullable=False),
        sa.Column("smtp_security", sa.Text, nullable=False),
        sa.Column("imap_host", sa.Text),
        sa.Column("imap_port", sa.Integer),
        sa.Column("imap_username", sa.Text),
        sa.Column("imap_password_encrypted", sa.Text),
        sa.Column("imap_security", sa.Text),
        sa.Column("daily_limit", sa.Integer, nullable=False, server_default="30"),
        sa.Column("min_gap_seconds", sa.Integer, nullable=False, server_default="120"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("workspace_id", "id", name="uq_mailer_mailboxes_workspace_id"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("mailboxes", schema=S)
    drop_runtime_tables(S)
