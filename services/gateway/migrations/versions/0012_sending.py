"""gateway: sending in the read model: a lead's next step, a campaign's daily send counts, link unsubscribes,
and the addresses of removed leads (their unsubscribe links keep working)

Revision ID: gateway_0012
Revises: gateway_0011
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0012"
down_revision = "gateway_0011"
branch_labels = None
depends_on = None

S = "gateway"

# Every lead deleted from lead_view (removed from its campaign, by the projection or a bulk job) keeps its
# address here, so the unsubscribe link of a message it was sent still verifies: one statement-level
# trigger covers every way a lead is removed.
KEEP_FUNCTION = f"""
CREATE FUNCTION {S}.removed_lead_addresses_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {S}.removed_lead_addresses (lead_id, workspace_id, campaign_id, email)
    SELECT id, workspace_id, campaign_id, email FROM old_rows
    ON CONFLICT (lead_id) DO NOTHING;
    RETURN NULL;
END $$
"""
KEEP_TRIGGER = (
    f"CREATE TRIGGER removed_lead_addresses_keep AFTER DELETE ON {S}.lead_view REFERENCING OLD TABLE AS old_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {S}.removed_lead_addresses_keep()"
)


def upgrade() -> None:
    op.add_column("lead_view", sa.Column("next_step", sa.Integer, nullable=True), schema=S)
    op.add_column("lead_view", sa.Column("next_step_at", sa.DateTime(timezone=True), nullable=True), schema=S)
    op.add_column(
        "lead_view", sa.Column("next_step_as_of", sa.DateTime(timezone=True), nullable=True), schema=S
    )
    op.create_table(
        "campaign_days",
        sa.Column("campaign_id", sa.Uuid, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bounced", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unsubscribed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completed", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.create_table(
        "link_unsubscribes",
        sa.Column("lead_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_table(
        "removed_lead_addresses",
        sa.Column("lead_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.execute(KEEP_FUNCTION)
    op.execute(KEEP_TRIGGER)


def downgrade() -> None:
    op.execute(f"DROP TRIGGER removed_lead_addresses_keep ON {S}.lead_view")
    op.execute(f"DROP FUNCTION {S}.removed_lead_addresses_keep()")
    op.drop_table("removed_lead_addresses", schema=S)
    op.drop_table("link_unsubscribes", schema=S)
    op.drop_table("campaign_days", schema=S)
    op.drop_column("lead_view", "next_step_as_of", schema=S)
    op.drop_column("lead_view", "next_step_at", schema=S)
    op.drop_column("lead_view", "next_step", schema=S)
