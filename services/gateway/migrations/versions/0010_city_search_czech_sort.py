"""gateway: the city joins the searched text; company and name sort by Czech collation keys

Existing leads get the new search text and grams (city included) and their keys, computed in Python as
the projection computes them, a batch of leads per statement.

Revision ID: gateway_0010
Revises: gateway_0009
"""

import sqlalchemy as sa
from alembic import op

from services.gateway.search import grams, lead_search_text, search_text
from services.runtime.collation import COLLATION, person_name, sort_key

revision = "gateway_0010"
down_revision = "gateway_0009"
branch_labels = None
depends_on = None

S = "gateway"
BATCH = 5000

_UPDATE_VIEW = sa.text(
    f"UPDATE {S}.lead_view AS v SET search = c.search "
    "FROM unnest(CAST(:seq AS bigint[]), CAST(:search AS text[])) AS c(seq, search) WHERE v.seq = c.seq"
)
_UPDATE_KEYS = sa.text(
    f"UPDATE {S}.lead_search AS s SET grams = CAST(c.grams AS bigint[]), company_key = c.company_key, "
    "name_key = c.name_key "
    "FROM unnest(CAST(:seq AS bigint[]), CAST(:grams AS text[]), CAST(:company_key AS bytea[]), "
    "CAST(:name_key AS bytea[])) AS c(seq, grams, company_key, name_key) WHERE s.seq = c.seq"
)


def _backfill(with_city: bool) -> None:
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT v.seq, v.email, v.first_name, v.last_name, v.company_name, v.city "
                f"FROM {S}.lead_view AS v JOIN {S}.lead_search AS s ON s.seq = v.seq "
                "WHERE v.seq > :last ORDER BY v.seq LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            return
        seqs, texts, gram_sets, company_keys, name_keys = [], [], [], [], []
        for seq, email, first_name, last_name, company_name, city in rows:
            if with_city:
                folded = lead_search_text(email, first_name, last_name, company_name, city)
            else:
                folded = search_text((email, first_name, last_name, company_name))
            seqs.append(seq)
            texts.append(folded)
            gram_sets.append("{" + ",".join(map(str, grams(folded))) + "}")
            company_keys.append(sort_key(company_name) if with_city else None)
            name_keys.append(sort_key(person_name(first_name, last_name)) if with_city else None)
        bind.execute(_UPDATE_VIEW, {"seq": seqs, "search": texts})
        bind.execute(
            _UPDATE_KEYS,
            {"seq": seqs, "grams": gram_sets, "company_key": company_keys, "name_key": name_keys},
        )
        last = rows[-1][0]


def upgrade() -> None:
    # One row: the collation the stored keys were made with (services/gateway/sort_keys.py re-keys on a
    # change).
    op.create_table(
        "sort_key_collation",
        sa.Column("id", sa.Integer, sa.CheckConstraint("id = 1"), primary_key=True, server_default="1"),
        sa.Column("name", sa.Text, nullable=False),
        schema=S,
    )
    op.execute(sa.text(f"INSERT INTO {S}.sort_key_collation (name) VALUES (:c)").bindparams(c=COLLATION))
    op.add_column("lead_search", sa.Column("company_key", sa.LargeBinary), schema=S)
    op.add_column("lead_search", sa.Column("name_key", sa.LargeBinary), schema=S)
    op.drop_index("lead_search_campaign_company", table_name="lead_search", schema=S)
    _backfill(with_city=True)
    op.create_index(
        "lead_search_campaign_company_key", "lead_search", ["campaign_id", "company_key", "seq"], schema=S
    )
    op.create_index(
        "lead_search_campaign_name_key", "lead_search", ["campaign_id", "name_key", "seq"], schema=S
    )


def downgrade() -> None:
    op.drop_index("lead_search_campaign_name_key", table_name="lead_search", schema=S)
    op.drop_index("lead_search_campaign_company_key", table_name="lead_search", schema=S)
    _backfill(with_city=False)
    op.drop_column("lead_search", "name_key", schema=S)
    op.drop_column("lead_search", "company_key", schema=S)
    op.create_index(
        "lead_search_campaign_company", "lead_search", ["campaign_id", "company_name", "seq"], schema=S
    )
    op.drop_table("sort_key_collation", schema=S)
