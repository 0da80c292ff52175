"""importer: company directory (installation-wide), workspace pipeline leads, accent folding

Revision ID: importer_0003
Revises: importer_0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import INT4RANGE, INT8RANGE

revision = "importer_0003"
down_revision = "importer_0002"
branch_labels = None
depends_on = None

S = "importer"

# Lower case without accents: decompose (NFKD), drop the combining marks, map the few letters that do not
# decompose (ł, đ, ø) and ß. `unaccent` is an extension the embedded PostgreSQL does not ship, and one
# translate() over every accented letter costs ten times as much when loading a million companies.
FOLD_TEXT = f"""
CREATE FUNCTION {S}.fold_text(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
SELECT replace(
    lower(translate(regexp_replace(normalize(value, NFKD), '[\\u0300-\\u036f]', '', 'g'), 'łŁđĐøØ', 'lLdDoO')),
    'ß',
    'ss'
)
$$
"""


def _band(kind: str, low: str, high: str) -> sa.Computed:
    return sa.Computed(
        f"CASE WHEN {low} IS NULL AND {high} IS NULL THEN NULL ELSE {kind}({low}, {high}, '[]') END",
        persisted=True,
    )


def upgrade() -> None:
    op.execute(FOLD_TEXT)
    op.create_table(
        "directory_companies",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("country", sa.Text),
        sa.Column("city", sa.Text),
        sa.Column("industry", sa.Text),
        sa.Column("size_min", sa.Integer),
        sa.Column("size_max", sa.Integer),
        sa.Column("revenue_min", sa.BigInteger),
        sa.Column("revenue_max", sa.BigInteger),
        sa.Column("company_name", sa.Text, nullable=False),
        sa.Column("website", sa.Text),
        sa.Column("email", sa.Text),
        sa.Column("first_name", sa.Text),
        sa.Column("size_band", INT4RANGE, _band("int4range", "size_min", "size_max")),
        sa.Column("revenue_band", INT8RANGE, _band("int8range", "revenue_min", "revenue_max")),
        sa.Column(
            "search",
            sa.Text,
            sa.Computed(
                f"{S}.fold_text(coalesce(company_name, '') || ' ' || coalesce(website, '') || ' ' "
                "|| coalesce(email, ''))",
                persisted=True,
            ),
        ),
        schema=S,
    )
    op.create_index("directory_companies_country_city", "directory_companies", ["country", "city"], schema=S)
    op.create_index("directory_companies_city", "directory_companies", ["city"], schema=S)
    op.create_index("directory_companies_industry", "directory_companies", ["industry"], schema=S)
    op.create_index(
        "directory_companies_size", "directory_companies", ["size_band"], schema=S, postgresql_using="gist"
    )
    op.create_index(
        "directory_companies_revenue",
        "directory_companies",
        ["revenue_band"],
        schema=S,
        postgresql_using="gist",
    )
    op.create_table(
        "pipeline_leads",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("email_key", sa.Text),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("company_name", sa.Text),
        sa.Column("city", sa.Text),
        sa.Column("industry", sa.Text),
        sa.Column("company_size", sa.Integer),
        sa.Column("revenue", sa.BigInteger),
        sa.Column("phone", sa.Text),
        sa.Column("website", sa.Text),
        sa.Column("stage", sa.Text),
        sa.Column(
            "search",
            sa.Text,
            sa.Computed(
                f"{S}.fold_text(coalesce(email, '') || ' ' || coalesce(first_name, '') || ' ' "
                "|| coalesce(last_name, '') || ' ' || coalesce(company_name, '') || ' ' "
                "|| coalesce(website, ''))",
                persisted=True,
            ),
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_index(
        "pipeline_leads_workspace_email",
        "pipeline_leads",
        ["workspace_id", "email_key"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("email_key IS NOT NULL"),
    )
    op.create_index("pipeline_leads_workspace_seq", "pipeline_leads", ["workspace_id", "seq"], schema=S)
    op.create_index("pipeline_leads_workspace_city", "pipeline_leads", ["workspace_id", "city"], schema=S)
    op.create_index(
        "pipeline_leads_workspace_industry", "pipeline_leads", ["workspace_id", "industry"], schema=S
    )


def downgrade() -> None:
    op.drop_table("pipeline_leads", schema=S)
    op.drop_table("directory_companies", schema=S)
    op.execute(f"DROP FUNCTION {S}.fold_text(text)")
