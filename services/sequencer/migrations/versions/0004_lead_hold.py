"""sequencer: a lead's hold after an out-of-office (no step due before it)

Revision ID: sequencer_0004
Revises: sequencer_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "sequencer_0004"
down_revision = "sequencer_0003"
branch_labels = None
depends_on = None

S = "sequencer"


def upgrade() -> None:
    op.add_column("leads", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True), schema=S)


def downgrade() -> None:
    op.drop_column("leads", "not_before", schema=S)
