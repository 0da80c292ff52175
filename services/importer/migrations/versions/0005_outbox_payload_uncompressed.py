"""importer: outbox payloads stored uncompressed

A LeadImported batch is ~250 KB of JSON that lives in the outbox for a moment; compressing it on the way
in (pglz) cost PostgreSQL more CPU than the bytes it saved.

Revision ID: importer_0005
Revises: importer_0004
"""

from alembic import op

revision = "importer_0005"
down_revision = "importer_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE importer.outbox ALTER COLUMN payload SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE importer.outbox ALTER COLUMN payload SET STORAGE EXTENDED")
