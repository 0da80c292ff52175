"""importer: an index for a campaign's import history, newest first

Revision ID: importer_0006
Revises: importer_0005
"""

from alembic import op

revision = "importer_0006"
down_revision = "importer_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "imports_campaign_created", "imports", ["campaign_id", "created_at", "id"], schema="importer"
    )


def downgrade() -> None:
    op.drop_index("imports_campaign_created", table_name="imports", schema="importer")
