"""gateway: per-campaign lead counts kept by PostgreSQL triggers, for the leads list's total

Revision ID: gateway_0003
Revises: gateway_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0003"
down_revision = "gateway_0002"
branch_labels = None
depends_on = None

S = "gateway"

# Statement-level triggers with transition tables: one aggregate INSERT per statement, however many rows it
# touched (a COPY of a whole import, a bulk UPDATE of 100,000 leads), and right for every writer of
# lead_view, not just the projection. The table is an append-only log of signed deltas, so concurrent
# writers never wait on (or deadlock over) a shared counter row; now and then a writer folds a campaign's
# deltas into one row per group (the advisory lock keeps two writers from folding the same campaign).
TRACK_FUNCTION = f"""
CREATE FUNCTION {S}.lead_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched uuid[];
    campaign uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH added AS (
            INSERT INTO {S}.lead_counts (workspace_id, campaign_id, import_id, status, validation, n)
            SELECT workspace_id, campaign_id, import_id, status, validation, count(*)
            FROM new_rows GROUP BY 1, 2, 3, 4, 5
            RETURNING campaign_id
        )
        SELECT array_agg(DISTINCT campaign_id) INTO touched FROM added;
    ELSIF TG_OP = 'DELETE' THEN
        WITH added AS (
            INSERT INTO {S}.lead_counts (workspace_id, campaign_id, import_id, status, validation, n)
            SELECT workspace_id, campaign_id, import_id, status, validation, -count(*)
            FROM old_rows GROUP BY 1, 2, 3, 4, 5
            RETURNING campaign_id
        )
        SELECT array_agg(DISTINCT campaign_id) INTO touched FROM added;
    ELSE
        WITH added AS (
            INSERT INTO {S}.lead_counts (workspace_id, campaign_id, import_id, status, validation, n)
            SELECT workspace_id, campaign_id, import_id, status, validation, sum(d)
            FROM (
                SELECT workspace_id, campaign_id, import_id, status, validation, -1 AS d FROM old_rows
                UNION ALL
                SELECT workspace_id, campaign_id, import_id, status, validation, 1 AS d FROM new_rows
            ) AS changes
            GROUP BY 1, 2, 3, 4, 5
            HAVING sum(d) <> 0
            RETURNING campaign_id
        )
        SELECT array_agg(DISTINCT campaign_id) INTO touched FROM added;
    END IF;
    -- About one statement in 64 folds the deltas of the campaigns it touched, so a campaign's log stays
    -- a few hundred rows long whether or not anyone reads it.
    IF touched IS NOT NULL AND random() < 1.0 / 64 THEN
        FOREACH campaign IN ARRAY touched LOOP
            PERFORM {S}.lead_counts_fold(campaign);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$
"""

FOLD_FUNCTION = f"""
CREATE FUNCTION {S}.lead_counts_fold(campaign uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Held to the end of the transaction: a second folder of this campaign skips rather than waits.
    IF NOT pg_try_advisory_xact_lock(hashtextextended('{S}.lead_counts:' || campaign::text, 0)) THEN
        RETURN;
    END IF;
    WITH gone AS (
        DELETE FROM {S}.lead_counts WHERE campaign_id = campaign
        RETURNING workspace_id, import_id, status, validation, n
    )
    INSERT INTO {S}.lead_counts (workspace_id, campaign_id, import_id, status, validation, n)
    SELECT workspace_id, campaign, import_id, status, validation, sum(n)
    FROM gone GROUP BY workspace_id, import_id, status, validation
    HAVING sum(n) <> 0;
END
$$
"""

CLEAR_FUNCTION = f"""
CREATE FUNCTION {S}.lead_counts_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {S}.lead_counts;
    RETURN NULL;
END
$$
"""

TRIGGERS = [
    f"CREATE TRIGGER lead_counts_insert AFTER INSERT ON {S}.lead_view REFERENCING NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {S}.lead_counts_track()",
    f"CREATE TRIGGER lead_counts_update AFTER UPDATE ON {S}.lead_view "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {S}.lead_counts_track()",
    f"CREATE TRIGGER lead_counts_delete AFTER DELETE ON {S}.lead_view REFERENCING OLD TABLE AS old_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {S}.lead_counts_track()",
    f"CREATE TRIGGER lead_counts_truncate AFTER TRUNCATE ON {S}.lead_view "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {S}.lead_counts_clear()",
]


def upgrade() -> None:
    op.create_table(
        "lead_counts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("import_id", sa.Uuid),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("validation", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        schema=S,
    )
    op.create_index("lead_counts_campaign", "lead_counts", ["campaign_id", "status", "validation"], schema=S)
    op.execute(FOLD_FUNCTION)
    op.execute(TRACK_FUNCTION)
    op.execute(CLEAR_FUNCTION)
    # CREATE TRIGGER locks out writers until this migration commits, so the backfill below and the
    # triggers' deltas neither overlap nor leave a gap.
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(
        f"INSERT INTO {S}.lead_counts (workspace_id, campaign_id, import_id, status, validation, n) "
        f"SELECT workspace_id, campaign_id, import_id, status, validation, count(*) FROM {S}.lead_view "
        "GROUP BY 1, 2, 3, 4, 5"
    )


def downgrade() -> None:
    for name in ("lead_counts_truncate", "lead_counts_delete", "lead_counts_update", "lead_counts_insert"):
        op.execute(f"DROP TRIGGER {name} ON {S}.lead_view")
    op.execute(f"DROP FUNCTION {S}.lead_counts_clear()")
    op.execute(f"DROP FUNCTION {S}.lead_counts_track()")
    op.execute(f"DROP FUNCTION {S}.lead_counts_fold(uuid)")
    op.drop_index("lead_counts_campaign", table_name="lead_counts", schema=S)
    op.drop_table("lead_counts", schema=S)
