"""validator: fair claim index, lease index, held_for, run

Revision ID: validator_0002
Revises: validator_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "validator_0002"
down_revision = "validator_0001"
branch_labels = None
depends_on = None

S = "validator"


def upgrade() -> None:
    op.add_column("validations", sa.Column("held_for", sa.Text), schema=S)
    op.add_column("validations", sa.Column("run", sa.Integer, nullable=False, server_default="0"), schema=S)
    # Leads held before this migration were held by the prober's health guard, the only one there was.
    op.execute(f"UPDATE {S}.validations SET held_for = 'prober' WHERE held")
    op.drop_index("validations_due", table_name="validations", schema=S)
    op.create_index(
        "validations_queue",
        "validations",
        ["workspace_id", "campaign_id", "next_attempt_at"],
        schema=S,
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(
        "validations_leases",
        "validations",
        ["locked_until"],
        schema=S,
        postgresql_where=sa.text("state = 'probing'"),
    )


def downgrade() -> None:
    op.drop_index("validations_leases", table_name="validations", schema=S)
    op.drop_index("validations_queue", table_name="validations", schema=S)
    op.create_index(
        "validations_due",
        "validations",
        ["next_attempt_at"],
        schema=S,
        postgresql_where=sa.text("state <> 'done'"),
    )
    op.drop_column("validations", "run", schema=S)
    op.drop_column("validations", "held_for", schema=S)
