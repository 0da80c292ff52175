"""gateway: what the list knows of each import's leads still on their way (how many a finished import
imported, how many of its leads have been listed)

Revision ID: gateway_0009_import_arrivals
Revises: gateway_0008_verdict_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0009_import_arrivals"
down_revision = "gateway_0008_verdict_runs"
branch_labels = None
depends_on = None

S = "gateway"


def upgrade() -> None:
    op.create_table(
        "import_arrivals",
        sa.Column("import_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("imported", sa.Integer, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("import_arrivals_campaign", "import_arrivals", ["campaign_id"], schema=S)
    op.create_table(
        "import_listed",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("import_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        schema=S,
    )
    op.create_index("import_listed_campaign", "import_listed", ["campaign_id", "import_id"], schema=S)


def downgrade() -> None:
    op.drop_table("import_listed", schema=S)
    op.drop_table("import_arrivals", schema=S)
