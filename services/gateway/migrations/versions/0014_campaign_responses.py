"""gateway: a campaign's sends per step and mailbox, and its replies, auto-replies, bounces and unsubscribes,
for its analytics; filled from the leads' timelines

Revision ID: gateway_0014
Revises: gateway_0013
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0014"
down_revision = "gateway_0013"
branch_labels = None
depends_on = None

S = "gateway"

# Each lead's campaign: listed leads, and the removed ones (their sends and answers stay counted, as the
# day counts do).
_LEADS = f"""
    SELECT id AS lead_id, campaign_id FROM {S}.lead_view
    UNION
    SELECT lead_id, campaign_id FROM {S}.removed_lead_addresses
"""

# Every EmailSent the projection applied is its lead's `email_sent` timeline entry (the event's fields but
# the envelope in `data`); the newest one names the mailbox's address.
BACKFILL_SENDS = f"""
INSERT INTO {S}.campaign_sends (campaign_id, step, mailbox_id, workspace_id, mailbox, mailbox_at, sent)
SELECT l.campaign_id, (e.data ->> 'step')::integer, (e.data ->> 'mailbox_id')::uuid,
       (array_agg(e.workspace_id))[1],
       (array_agg(coalesce(e.data ->> 'mailbox', '') ORDER BY e.occurred_at DESC, e.id DESC))[1],
       max(e.occurred_at), count(*)
FROM {S}.lead_events AS e JOIN ({_LEADS}) AS l ON l.lead_id = e.lead_id
WHERE e.event_type = 'email_sent' AND e.data ->> 'step' IS NOT NULL AND e.data ->> 'mailbox_id' IS NOT NULL
GROUP BY 1, 2, 3
"""

# The answers, as projection/campaign_stats.py records them live: one row per inbox message (else per
# event), one per unsubscribed lead; the newest fact's kind (the later entry on a tie), the newest step and
# mailbox known, the first day.
BACKFILL_RESPONSES = f"""
WITH facts AS (
    SELECT l.campaign_id, e.workspace_id, e.lead_id, e.id, e.occurred_at,
        CASE WHEN e.event_type = 'lead_unsubscribed' THEN e.lead_id
             ELSE coalesce((e.data ->> 'inbox_message_id')::uuid, e.event_id) END AS response_id,
        CASE e.event_type
            WHEN 'reply_detected' THEN 'reply'
            WHEN 'auto_reply_detected' THEN 'auto_reply'
            WHEN 'lead_unsubscribed' THEN 'unsubscribe'
            WHEN 'email_bounced' THEN
                CASE e.data ->> 'kind' WHEN 'hard' THEN 'hard_bounce' WHEN 'soft' THEN 'soft_bounce'
                ELSE 'other' END
            ELSE CASE e.data ->> 'to_kind'
                WHEN 'reply' THEN 'reply' WHEN 'auto_reply' THEN 'auto_reply' WHEN 'challenge' THEN 'auto_reply'
                WHEN 'hard_bounce' THEN 'hard_bounce' WHEN 'soft_bounce' THEN 'soft_bounce' ELSE 'other' END
        END AS kind,
        (e.data ->> 'step')::integer AS step,
        (e.data ->> 'mailbox_id')::uuid AS mailbox_id
    FROM {S}.lead_events AS e JOIN ({_LEADS}) AS l ON l.lead_id = e.lead_id
    WHERE e.event_type IN
        ('reply_detected', 'auto_reply_detected', 'email_bounced', 'inbound_reclassified', 'lead_unsubscribed')
)
INSERT INTO {S}.campaign_responses
    (campaign_id, response_id, workspace_id, lead_id, kind, step, mailbox_id, day, as_of)
SELECT campaign_id, response_id, (array_agg(workspace_id))[1], (array_agg(lead_id))[1],
       (array_agg(kind ORDER BY occurred_at DESC, id DESC))[1],
       (array_agg(step ORDER BY occurred_at DESC, id DESC) FILTER (WHERE step IS NOT NULL))[1],
       (array_agg(mailbox_id ORDER BY occurred_at DESC, id DESC) FILTER (WHERE mailbox_id IS NOT NULL))[1],
       min((occurred_at AT TIME ZONE 'UTC')::date), max(occurred_at)
FROM facts
GROUP BY campaign_id, response_id
"""


def upgrade() -> None:
    op.create_table(
        "campaign_sends",
        sa.Column("campaign_id", sa.Uuid, primary_key=True),
        sa.Column("step", sa.Integer, primary_key=True),
        sa.Column("mailbox_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("mailbox", sa.Text, nullable=False),
        sa.Column("mailbox_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.create_table(
        "campaign_responses",
        sa.Column("campaign_id", sa.Uuid, primary_key=True),
        sa.Column("response_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("step", sa.Integer, nullable=True),
        sa.Column("mailbox_id", sa.Uuid, nullable=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.execute(BACKFILL_SENDS)
    op.execute(BACKFILL_RESPONSES)


def downgrade() -> None:
    op.drop_table("campaign_responses", schema=S)
    op.drop_table("campaign_sends", schema=S)
