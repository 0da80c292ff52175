"""gateway: search grams in their own table (lead_search), out of lead_view's update path

Revision ID: gateway_0004
Revises: gateway_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "gateway_0004"
down_revision = "gateway_0003"
branch_labels = None
depends_on = None

S = "gateway"


def upgrade() -> None:
    op.create_table(
        "lead_search",
        sa.Column(
            "seq",
            sa.BigInteger,
            sa.ForeignKey(f"{S}.lead_view.seq", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("grams", ARRAY(sa.BigInteger), nullable=False),
        schema=S,
    )
    op.execute(f"INSERT INTO {S}.lead_search (seq, grams) SELECT seq, search_grams FROM {S}.lead_view")
    op.create_index("lead_search_grams", "lead_search", ["grams"], schema=S, postgresql_using="gin")
    op.drop_index("lead_view_search_grams", table_name="lead_view", schema=S)
    op.drop_column("lead_view", "search_grams", schema=S)


def downgrade() -> None:
    op.add_column(
        "lead_view",
        sa.Column("search_grams", ARRAY(sa.BigInteger), nullable=False, server_default="{}"),
        schema=S,
    )
    op.execute(
        f"UPDATE {S}.lead_view AS v SET search_grams = s.grams FROM {S}.lead_search AS s WHERE s.seq = v.seq"
    )
    op.create_index("lead_view_search_grams", "lead_view", ["search_grams"], schema=S, postgresql_using="gin")
    op.drop_index("lead_search_grams", table_name="lead_search", schema=S)
    op.drop_table("lead_search", schema=S)
