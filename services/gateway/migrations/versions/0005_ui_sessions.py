"""gateway: server-side web UI sessions (the cookie holds a token, not the API key)

Revision ID: gateway_0005
Revises: gateway_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0005"
down_revision = "gateway_0004"
branch_labels = None
depends_on = None

S = "gateway"


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("token_hash", sa.Text, primary_key=True),
        sa.Column(
            "api_key_id", sa.Uuid, sa.ForeignKey(f"{S}.api_keys.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("ui_sessions", schema=S)
