"""gateway: a campaign's status in the read model, projected from the sequencer's CampaignUpdated

Revision ID: gateway_0011
Revises: gateway_0010
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0011"
down_revision = "gateway_0010"
branch_labels = None
depends_on = None

S = "gateway"


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("status", sa.Text, nullable=False, server_default="draft"), schema=S)
    op.add_column("campaigns", sa.Column("status_at", sa.DateTime(timezone=True), nullable=True), schema=S)


def downgrade() -> None:
    op.drop_column("campaigns", "status_at", schema=S)
    op.drop_column("campaigns", "status", schema=S)
