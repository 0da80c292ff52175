"""mailer: a claim rewrites a send's row in place (a HOT update) instead of adding to its five indexes

The sends under way are indexed by mailbox rather than by when their lease ends, so a claim, which changes
only `token` and `leased_until`, changes no indexed column; and new pages of the table are filled to half
(fillfactor 50), so that a page keeps room for the claimed version of its rows (a send row is about 1 kB,
its subject and body with it). PostgreSQL then writes a claimed row on its page without an index entry:
in `bench/send.py`, about 18,000 of its 20,000 claims (about 9,000 with fillfactor 70, none before); the
claim was PostgreSQL's costliest statement there (about 7 ms per 250 sends, most of it the index entries).
The table takes up to twice the pages for the same rows.

Revision ID: mailer_0003
Revises: mailer_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "mailer_0003"
down_revision = "mailer_0002"
branch_labels = None
depends_on = None

S = "mailer"


def upgrade() -> None:
    op.drop_index("ix_mailer_sends_sending", table_name="sends", schema=S)
    op.create_index(
        "ix_mailer_sends_sending",
        "sends",
        ["mailbox_id"],
        schema=S,
        postgresql_where=sa.text("state = 'sending'"),
    )
    op.execute("ALTER TABLE mailer.sends SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE mailer.sends RESET (fillfactor)")
    op.drop_index("ix_mailer_sends_sending", table_name="sends", schema=S)
    op.create_index(
        "ix_mailer_sends_sending",
        "sends",
        ["leased_until"],
        schema=S,
        postgresql_where=sa.text("state = 'sending'"),
    )
