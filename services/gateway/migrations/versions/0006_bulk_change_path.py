"""gateway: a bulk status change writes less: the company and email sort keys move to lead_search, out of
lead_view's update path, and a lead's timeline has one index where it had two

Revision ID: gateway_0006
Revises: gateway_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0006"
down_revision = "gateway_0005"
branch_labels = None
depends_on = None

S = "gateway"


def upgrade() -> None:
    op.add_column("lead_search", sa.Column("campaign_id", sa.Uuid), schema=S)
    op.add_column("lead_search", sa.Column("company_name", sa.Text), schema=S)
    op.add_column("lead_search", sa.Column("email", sa.Text), schema=S)
    op.execute(
        f"UPDATE {S}.lead_search AS s SET campaign_id = v.campaign_id, company_name = v.company_name, "
        f"email = v.email FROM {S}.lead_view AS v WHERE v.seq = s.seq"
    )
    op.alter_column("lead_search", "campaign_id", nullable=False, schema=S)
    op.alter_column("lead_search", "email", nullable=False, schema=S)
    op.create_index(
        "lead_search_campaign_company", "lead_search", ["campaign_id", "company_name", "seq"], schema=S
    )
    op.create_index("lead_search_campaign_email", "lead_search", ["campaign_id", "email", "seq"], schema=S)
    op.drop_index("lead_view_campaign_company", table_name="lead_view", schema=S)
    op.drop_index("lead_view_campaign_email", table_name="lead_view", schema=S)
    # (lead_id, occurred_at, event_id) is unique exactly when (lead_id, event_id) is (an event has one
    # time), and it orders a lead's timeline: one index serves the timeline, the removal check and the
    # projection's ON CONFLICT, instead of two written for every entry.
    op.create_unique_constraint(
        "lead_events_lead_time_event", "lead_events", ["lead_id", "occurred_at", "event_id"], schema=S
    )
    op.drop_index("lead_events_lead_time", table_name="lead_events", schema=S)
    op.drop_constraint("lead_events_lead_event", "lead_events", schema=S)


def downgrade() -> None:
    op.create_unique_constraint("lead_events_lead_event", "lead_events", ["lead_id", "event_id"], schema=S)
    op.create_index("lead_events_lead_time", "lead_events", ["lead_id", "occurred_at", "id"], schema=S)
    op.drop_constraint("lead_events_lead_time_event", "lead_events", schema=S)
    op.create_index(
        "lead_view_campaign_company", "lead_view", ["campaign_id", "company_name", "seq"], schema=S
    )
    op.create_index("lead_view_campaign_email", "lead_view", ["campaign_id", "email", "seq"], schema=S)
    op.drop_index("lead_search_campaign_email", table_name="lead_search", schema=S)
    op.drop_index("lead_search_campaign_company", table_name="lead_search", schema=S)
    op.drop_column("lead_search", "email", schema=S)
    op.drop_column("lead_search", "company_name", schema=S)
    op.drop_column("lead_search", "campaign_id", schema=S)
