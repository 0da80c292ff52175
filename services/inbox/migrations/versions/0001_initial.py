"""inbox: mailboxes read, the sent index, messages, outbox

Revision ID: inbox_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import create_runtime_tables, drop_runtime_tables

revision = "inbox_0001"
down_revision = None
branch_labels = ("inbox",)
depends_on = None

S = "inbox"


def upgrade() -> None:
    create_runtime_tables(S)
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("password_encrypted", sa.Text, nullable=False),
        sa.Column("security", sa.Text, nullable=False),
        sa.Column("settings_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger),
        sa.Column("last_uid", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        schema=S,
    )
    op.create_table(
        "sent",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("mailbox_id", sa.Uuid, nullable=False),
        sa.Column("recipient", sa.Text),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_inbox_sent_recipient", "sent", ["workspace_id", "recipient", sa.text("sent_at DESC")], schema=S
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Uuid, nullable=False),
        sa.Column("mailbox_id", sa.Uuid, nullable=False),
        sa.Column("message_key", sa.Text, nullable=False),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("message_id", sa.Text),
        sa.Column("from_address", sa.Text),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("classified_kind", sa.Text, nullable=False),
        sa.Column("classified_rule", sa.Text, nullable=False),
        sa.Column("status_code", sa.Text),
        sa.Column("smtp_code", sa.Integer),
        sa.Column("diagnostic", sa.Text, nullable=False, server_default=""),
        sa.Column("bounced_recipient", sa.Text),
        sa.Column("return_date", sa.Date),
        sa.Column("in_reply_to", sa.Text),
        sa.Column("lead_id", sa.Uuid),
        sa.Column("campaign_id", sa.Uuid),
        sa.Column("step", sa.Integer),
        sa.Column("linked_by", sa.Text),
        sa.Column("read", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("reclassified_by", sa.Text),
        sa.Column("reclassified_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("mailbox_id", "message_key", name="uq_inbox_messages_mailbox_key"),
        schema=S,
    )
    op.create_index(
        "ix_inbox_messages_workspace",
        "messages",
        ["workspace_id", sa.text("received_at DESC"), sa.text("id DESC")],
        schema=S,
    )
    op.create_index("ix_inbox_messages_lead", "messages", ["lead_id"], schema=S)


def downgrade() -> None:
    op.drop_table("messages", schema=S)
    op.drop_table("sent", schema=S)
    op.drop_table("mailboxes", schema=S)
    drop_runtime_tables(S)
