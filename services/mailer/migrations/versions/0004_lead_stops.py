"""mailer: each stopped lead's latest stop (`lead_stops`), and when the sequencer asked for a send
(`sends.requested_at`)

The stop consumer cancels a lead's queued sends, but the StepDue arrive on a durable of their own: one
handled after the stop found nothing to cancel and was queued, then sent to a lead who had replied. The
stop is now remembered with its event's time, and a StepDue is compared with it, at queueing and again
when the send is reserved; `requested_at` is the StepDue's own `occurred_at`, which tells a StepDue the
sequencer emitted before the stop from one it emitted after resuming the lead. Sends queued before this
revision have none and are compared by when they were queued.

Revision ID: mailer_0004
Revises: mailer_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "mailer_0004"
down_revision = "mailer_0003"
branch_labels = None
depends_on = None

S = "mailer"


def upgrade() -> None:
    op.create_table(
        "lead_stops",
        sa.Column("lead_id", sa.Uuid, primary_key=True),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.add_column("sends", sa.Column("requested_at", sa.DateTime(timezone=True)), schema=S)


def downgrade() -> None:
    op.drop_column("sends", "requested_at", schema=S)
    op.drop_table("lead_stops", schema=S)
