"""importer: a campaign's import history newest first; city filters that ignore case and accents

Revision ID: importer_0006
Revises: importer_0005
"""

from alembic import op

revision = "importer_0006"
down_revision = "importer_0005"
branch_labels = None
depends_on = None

S = "importer"


def upgrade() -> None:
    op.create_index("imports_campaign_created", "imports", ["campaign_id", "created_at", "id"], schema=S)
    op.execute(
        f"CREATE INDEX directory_companies_folded_city ON {S}.directory_companies ({S}.fold_text(city)) INCLUDE (city)"
    )
    op.execute(
        f"CREATE INDEX pipeline_leads_workspace_folded_city "
        f"ON {S}.pipeline_leads (workspace_id, {S}.fold_text(city)) INCLUDE (city)"
    )


def downgrade() -> None:
    op.drop_index("pipeline_leads_workspace_folded_city", table_name="pipeline_leads", schema=S)
    op.drop_index("directory_companies_folded_city", table_name="directory_companies", schema=S)
    op.drop_index("imports_campaign_created", table_name="imports", schema=S)
