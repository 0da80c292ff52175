"""sequencer: a campaign's stop on a company reply, and what a lead's resume goes on from (its last send's
time, the state its stop found); a campaign's leads looked up by their address's domain

Revision ID: sequencer_0006
Revises: sequencer_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "sequencer_0006"
down_revision = "sequencer_0005"
branch_labels = None
depends_on = None

S = "sequencer"
# As services/sequencer/tables.py's EMAIL_DOMAIN at this revision.
EMAIL_DOMAIN = """lower("substring"(email, '@([^@]*)$'::text))"""


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column("stop_on_company_reply", sa.Boolean, nullable=False, server_default=sa.text("false")),
        schema=S,
    )
    op.add_column("leads", sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True), schema=S)
    op.add_column("leads", sa.Column("stopped_from", sa.Text, nullable=True), schema=S)
    op.create_index("ix_sequencer_leads_company", "leads", ["campaign_id", sa.text(EMAIL_DOMAIN)], schema=S)


def downgrade() -> None:
    op.drop_index("ix_sequencer_leads_company", table_name="leads", schema=S)
    op.drop_column("leads", "stopped_from", schema=S)
    op.drop_column("leads", "last_sent_at", schema=S)
    op.drop_column("campaigns", "stop_on_company_reply", schema=S)
