"""inbox: each send's conversation, to link a reply by its Thread-Index

The conversation is the GUID a send's own Message-ID gives a `Thread-Index` (services/runtime/thread_index.py:
the MD5 of the Message-ID). Sends indexed before this revision get theirs too, so that a follow-up sent
after it, which carries its step 1's conversation, links back to a step 1 sent before it.

Revision ID: inbox_0002
Revises: inbox_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "inbox_0002"
down_revision = "inbox_0001"
branch_labels = None
depends_on = None

S = "inbox"


def upgrade() -> None:
    op.add_column("sent", sa.Column("conversation", sa.Uuid, nullable=True), schema=S)
    op.execute("UPDATE inbox.sent SET conversation = md5(message_id)::uuid")
    op.create_index("ix_inbox_sent_conversation", "sent", ["workspace_id", "conversation"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_inbox_sent_conversation", table_name="sent", schema=S)
    op.drop_column("sent", "conversation", schema=S)
