"""Every service's migration history upgrades and downgrades cleanly, and upgrades again."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from services.runtime import migrations
from services.runtime.db import psycopg_conninfo


def tables(url: str) -> set[str]:
    with psycopg.connect(psycopg_conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_name <> 'alembic_version'",
            (list(migrations.MIGRATED_SERVICES),),
        ).fetchall()
    return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade(fresh_database_url: Callable[[], str]) -> None:
    url = fresh_database_url()
    migrations.upgrade(url)
    after_upgrade = tables(url)
    assert {
        "gateway.lead_view",
        "gateway.api_keys",
        "importer.leads",
        "importer.imports",
        "importer.outbox",
        "sequencer.campaigns",
        "sequencer.processed_events",
    } <= after_upgrade
    migrations.downgrade(url)
    assert tables(url) == set()
    migrations.upgrade(url)
    assert tables(url) == after_upgrade


def test_models_match_migrations(fresh_database_url: Callable[[], str]) -> None:
    """The SQLAlchemy tables the code uses and the tables the migrations create do not drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from services.gateway.tables import metadata as gateway
    from services.importer.tables import metadata as importer
    from services.sequencer.tables import metadata as sequencer

    url = fresh_database_url()
    migrations.upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for metadata in (gateway, importer, sequencer):
                ctx = MigrationContext.configure(
                    conn, opts={"include_schemas": True, "include_name": _only(metadata.schema)}
                )
                assert compare_metadata(ctx, metadata) == [], metadata.schema
    finally:
        engine.dispose()


def _only(schema: str | None) -> Callable[..., bool]:
    def include(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
        if type_ == "schema":
            return name == schema
        return not (type_ == "table" and name == "alembic_version")

    return include


def test_leadflow_migrate_command(fresh_database_url: Callable[[], str]) -> None:
    import os
    import subprocess
    import sys

    url = fresh_database_url()
    env = {**os.environ, "LEADFLOW_DATABASE_URL": url}
    up = subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip().endswith("migrations: at head")
    assert "importer.leads" in tables(url)
    down = subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate", "--downgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert down.returncode == 0, down.stderr
    assert tables(url) == set()
