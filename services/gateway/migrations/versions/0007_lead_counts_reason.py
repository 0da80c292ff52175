"""gateway: lead_counts also by validation reason, so the campaign validation summary reads counts only

Revision ID: gateway_0007
Revises: gateway_0006
"""

from alembic import op

revision = "gateway_0007"
down_revision = "gateway_0006"
branch_labels = None
depends_on = None

S = "gateway"


def _functions(groups: str) -> list[str]:
    """gateway_0003's trigger and fold functions, grouping by `groups` (the columns after campaign_id)."""
    track = f"""
CREATE OR REPLACE FUNCTION {S}.lead_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched uuid[];
    campaign uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH added AS (
            INSERT INTO {S}.lead_counts (workspace_id, campaign_id, {groups}, n)
            SELECT workspace_id, campaign_id, {groups}, count(*)
            FROM new_rows GROUP BY workspace_id, campaign_id, {groups}
            RETURNING campaign_id
        )
        SELECT array_agg(DISTINCT campaign_id) INTO touched FROM added;
    ELSIF TG_OP = 'DELETE' THEN
        WITH added AS (
            INSERT INTO {S}.lead_counts (workspace_id, campaign_id, {groups}, n)
            SELECT workspace_id, campaign_id, {groups}, -count(*)
            FROM old_rows GROUP BY workspace_id, campaign_id, {groups}
            RETURNING campaign_id
        )
        SELECT array_agg(DISTINCT campaign_id) INTO touched FROM added;
    ELSE
        WITH added AS (
            INSERT INTO {S}.lead_counts (workspace_id, campaign_id, {groups}, n)
            SELECT workspace_id, campaign_id, {groups}, sum(d)
            FROM (
                SELECT workspace_id, campaign_id, {groups}, -1 AS d FROM old_rows
                UNION ALL
                SELECT workspace_id, campaign_id, {groups}, 1 AS d FROM new_rows
            ) AS changes
            GROUP BY workspace_id, campaign_id, {groups}
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
    fold = f"""
CREATE OR REPLACE FUNCTION {S}.lead_counts_fold(campaign uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Held to the end of the transaction: a second folder of this campaign skips rather than waits.
    IF NOT pg_try_advisory_xact_lock(hashtextextended('{S}.lead_counts:' || campaign::text, 0)) THEN
        RETURN;
    END IF;
    WITH gone AS (
        DELETE FROM {S}.lead_counts WHERE campaign_id = campaign
        RETURNING workspace_id, {groups}, n
    )
    INSERT INTO {S}.lead_counts (workspace_id, campaign_id, {groups}, n)
    SELECT workspace_id, campaign, {groups}, sum(n)
    FROM gone GROUP BY workspace_id, {groups}
    HAVING sum(n) <> 0;
END
$$
"""
    return [fold, track]


def _recount(groups: str) -> None:
    """lead_counts from lead_view, grouped the new way; writers of lead_view wait until this commits."""
    op.execute(f"LOCK TABLE {S}.lead_view IN SHARE MODE")
    op.execute(f"DELETE FROM {S}.lead_counts")
    op.execute(
        f"INSERT INTO {S}.lead_counts (workspace_id, campaign_id, {groups}, n) "
        f"SELECT workspace_id, campaign_id, {groups}, count(*) FROM {S}.lead_view "
        f"GROUP BY workspace_id, campaign_id, {groups}"
    )


NEW = "import_id, status, validation, validation_reason"
OLD = "import_id, status, validation"


def upgrade() -> None:
    op.execute(f"ALTER TABLE {S}.lead_counts ADD COLUMN validation_reason text")
    for statement in _functions(NEW):
        op.execute(statement)
    _recount(NEW)


def downgrade() -> None:
    for statement in _functions(OLD):
        op.execute(statement)
    _recount(OLD)
    op.execute(f"ALTER TABLE {S}.lead_counts DROP COLUMN validation_reason")
