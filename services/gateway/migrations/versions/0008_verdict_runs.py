"""gateway: lead_view keeps what the status fold needs to take back an invalid verdict (the status the
other events give, the latest validation run, when that run found the lead invalid)

Revision ID: gateway_0008_verdict_runs
Revises: gateway_0007
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0008_verdict_runs"
down_revision = "gateway_0007"
branch_labels = None
depends_on = None

S = "gateway"

# Leads made Invalid by a verdict before this revision (every verdict so far was of run 0): the only other
# way to Invalid is a manual change, whose time the status then carries. Their other events' status is the
# contracts' fold of their timeline restated over the event types with a status effect: the manual change
# (if any) as the start, the automatic facts not older than it; the earliest terminal fact (ties by
# priority), else the highest progress with the latest time.
_CARRY_OVER = f"""
WITH poisoned AS (
    SELECT id, status_at, manual_at, manual_id FROM {S}.lead_view
    WHERE status = 'invalid' AND (manual_at IS NULL OR status_at > manual_at)
),
facts AS (
    SELECT p.id, coalesce(m.data ->> 'status', 'pending') AS status, p.manual_at AS at
    FROM poisoned AS p
    LEFT JOIN {S}.lead_events AS m
        ON p.manual_at IS NOT NULL AND m.lead_id = p.id AND m.occurred_at = p.manual_at
        AND m.event_id = p.manual_id
    UNION ALL
    SELECT p.id,
           CASE e.event_type WHEN 'lead_imported' THEN 'pending' WHEN 'email_sent' THEN 'contacted'
                WHEN 'lead_completed' THEN 'completed' WHEN 'email_bounced' THEN 'bounced'
                WHEN 'reply_detected' THEN 'replied' ELSE 'unsubscribed' END,
           e.occurred_at
    FROM poisoned AS p
    JOIN {S}.lead_events AS e ON e.lead_id = p.id
    WHERE (p.manual_at IS NULL OR e.occurred_at >= p.manual_at)
      AND (e.event_type IN ('lead_imported', 'email_sent', 'lead_completed', 'reply_detected',
                            'lead_unsubscribed')
           OR (e.event_type = 'email_bounced' AND e.data ->> 'kind' = 'hard'))
),
ranked AS (
    SELECT id, status, at,
           CASE status WHEN 'unsubscribed' THEN 0 WHEN 'bounced' THEN 1 WHEN 'replied' THEN 2
                WHEN 'invalid' THEN 3 END AS priority,
           CASE status WHEN 'pending' THEN 0 WHEN 'contacted' THEN 1 WHEN 'completed' THEN 2 END AS rank
    FROM facts
),
terminal AS (
    SELECT DISTINCT ON (id) id, status, at FROM ranked WHERE priority IS NOT NULL
    ORDER BY id, coalesce(at, '-infinity'), priority
),
progress AS (
    SELECT id, (array_agg(status ORDER BY rank DESC))[1] AS status, max(at) AS at
    FROM ranked WHERE rank IS NOT NULL GROUP BY id
),
base AS (
    SELECT p.id, p.status_at, coalesce(t.status, g.status, 'pending') AS status,
           CASE WHEN t.id IS NOT NULL THEN t.at ELSE g.at END AS at
    FROM poisoned AS p
    LEFT JOIN terminal AS t ON t.id = p.id
    LEFT JOIN progress AS g ON g.id = p.id
)
UPDATE {S}.lead_view AS v
SET base_status = b.status, base_at = b.at, verdict_invalid_at = b.status_at
FROM base AS b
WHERE v.id = b.id
"""


def upgrade() -> None:
    op.add_column("lead_view", sa.Column("base_status", sa.Text), schema=S)
    op.add_column("lead_view", sa.Column("base_at", sa.DateTime(timezone=True)), schema=S)
    op.add_column("lead_view", sa.Column("verdict_run", sa.Integer), schema=S)
    op.add_column("lead_view", sa.Column("verdict_invalid_at", sa.DateTime(timezone=True)), schema=S)
    op.execute(f"UPDATE {S}.lead_view SET verdict_run = 0 WHERE validation <> 'pending'")
    op.execute(_CARRY_OVER)


def downgrade() -> None:
    for column in ("verdict_invalid_at", "verdict_run", "base_at", "base_status"):
        op.drop_column("lead_view", column, schema=S)
