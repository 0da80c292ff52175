"""gateway: lead search without extensions, sort indexes, lead timeline, jobs

Revision ID: gateway_0002
Revises: gateway_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from services.gateway.search import grams, search_text

revision = "gateway_0002"
down_revision = "gateway_0001"
branch_labels = None
depends_on = None

S = "gateway"
BACKFILL_BATCH = 5000


def upgrade() -> None:
    op.add_column("lead_view", sa.Column("search", sa.Text, nullable=False, server_default=""), schema=S)
    op.add_column(
        "lead_view",
        sa.Column("search_grams", ARRAY(sa.BigInteger), nullable=False, server_default="{}"),
        schema=S,
    )
    _backfill_search()
    op.create_index(
        "lead_view_campaign_validation", "lead_view", ["campaign_id", "validation", "seq"], schema=S
    )
    op.create_index(
        "lead_view_campaign_activity", "lead_view", ["campaign_id", "last_activity_at", "seq"], schema=S
    )
    op.create_index(
        "lead_view_campaign_company", "lead_view", ["campaign_id", "company_name", "seq"], schema=S
    )
    op.create_index("lead_view_campaign_email", "lead_view", ["campaign_id", "email", "seq"], schema=S)
    op.create_index("lead_view_search_grams", "lead_view", ["search_grams"], schema=S, postgresql_using="gin")
    op.create_table(
        "lead_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSONB, nullable=False, server_default="{}"),
        sa.UniqueConstraint("lead_id", "event_id", name="lead_events_lead_event"),
        schema=S,
    )
    op.create_index("lead_events_lead_time", "lead_events", ["lead_id", "occurred_at", "id"], schema=S)
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="running"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("params", JSONB, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
        sa.Column("created_by", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        schema=S,
    )
    op.create_index(
        "jobs_running", "jobs", ["state"], schema=S, postgresql_where=sa.text("state = 'running'")
    )


def _backfill_search() -> None:
    """Leads projected before this revision get their search text and grams (computed in Python, as the
    projection does)."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT seq, email, first_name, last_name, company_name FROM {S}.lead_view "
                "WHERE seq > :last ORDER BY seq LIMIT :n"
            ),
            {"last": last, "n": BACKFILL_BATCH},
        ).all()
        if not rows:
            return
        values = []
        for seq, *fields in rows:
            folded = search_text(fields)
            values.append({"seq": seq, "search": folded, "grams": grams(folded)})
        bind.execute(
            sa.text(f"UPDATE {S}.lead_view SET search = :search, search_grams = :grams WHERE seq = :seq"),
            values,
        )
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index("jobs_running", table_name="jobs", schema=S)
    op.drop_table("jobs", schema=S)
    op.drop_index("lead_events_lead_time", table_name="lead_events", schema=S)
    op.drop_table("lead_events", schema=S)
    op.drop_index("lead_view_search_grams", table_name="lead_view", schema=S)
    op.drop_index("lead_view_campaign_email", table_name="lead_view", schema=S)
    op.drop_index("lead_view_campaign_company", table_name="lead_view", schema=S)
    op.drop_index("lead_view_campaign_activity", table_name="lead_view", schema=S)
    op.drop_index("lead_view_campaign_validation", table_name="lead_view", schema=S)
    op.drop_column("lead_view", "search_grams", schema=S)
    op.drop_column("lead_view", "search", schema=S)
