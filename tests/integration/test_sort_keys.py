"""Stored sort keys follow the collation that makes them: another ICU version gets every key recomputed."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg

from services.composition import MIGRATED_SERVICES
from services.gateway.leads.sort_keys import rekey
from services.gateway.tables import metadata
from services.runtime import migrations
from services.runtime.collation import COLLATION, person_name, sort_key
from services.runtime.db import psycopg_conninfo
from services.runtime.service import Service
from services.runtime.settings import Settings

LEADS = [("Černý s.r.o.", "Jan", "Černý"), ("Chalupa", None, "Hora"), (None, None, None)]


async def test_keys_of_another_collation_are_recomputed_once(
    fresh_database_url: Callable[[], str], nats_url: str
) -> None:
    url = fresh_database_url()
    migrations.upgrade(url, MIGRATED_SERVICES)
    conninfo = psycopg_conninfo(url)
    campaign = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT name FROM gateway.sort_key_collation").fetchall() == [(COLLATION,)]
        for i, (company, first, last) in enumerate(LEADS):
            row = conn.execute(
                "INSERT INTO gateway.lead_view (id, workspace_id, campaign_id, email, company_name, first_name, "
                "last_name) VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, %s) RETURNING seq",
                (campaign, campaign, f"l{i}@x.cz", company, first, last),
            ).fetchone()
            assert row is not None
            # Keys as an older ICU might have made them.
            conn.execute(
                "INSERT INTO gateway.lead_search (seq, grams, campaign_id, company_name, email, company_key, "
                "name_key) VALUES (%s, '{}', %s, %s, %s, '\\x01', '\\x02')",
                (row[0], campaign, company, f"l{i}@x.cz"),
            )
        conn.execute("UPDATE gateway.sort_key_collation SET name = 'cs (ICU 1.0, Unicode 1.0)'")

    service = Service(
        name="gateway", metadata=metadata, settings=Settings(nats_url=nats_url, database_url=url)
    )
    try:
        assert await rekey(service) == len(LEADS)
        assert await rekey(service) == 0  # recorded: the next start has nothing to do
    finally:
        await service.engine.dispose()

    with psycopg.connect(conninfo) as conn:
        keys = conn.execute(
            "SELECT s.company_name, v.first_name, v.last_name, s.company_key, s.name_key "
            "FROM gateway.lead_search s JOIN gateway.lead_view v USING (seq) ORDER BY seq"
        ).fetchall()
        assert [(c, f, la, k and bytes(k), n and bytes(n)) for c, f, la, k, n in keys] == [
            (c, f, la, sort_key(c), sort_key(person_name(f, la))) for c, f, la in LEADS
        ]
        assert conn.execute("SELECT name FROM gateway.sort_key_collation").fetchall() == [(COLLATION,)]
