"""gateway: events about leads not listed yet, parked until their LeadImported is applied

Revision ID: gateway_0013
Revises: gateway_0012
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0013"
down_revision = "gateway_0012"
branch_labels = None
depends_on = None

S = "gateway"


def upgrade() -> None:
    op.create_table(
        "parked_events",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("event_id", "lead_id", name="parked_events_event_lead"),
        schema=S,
    )
    op.create_index("parked_events_lead", "parked_events", ["lead_id"], schema=S)


def downgrade() -> None:
    op.drop_table("parked_events", schema=S)
