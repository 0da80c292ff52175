"""Alembic, one history per service schema; `leadflow migrate` runs them all.

Each service keeps its history in `services/<service>/migrations/` with its own version table inside its
own schema, so services migrate independently and none reads another's tables. Which services have a
history is the composition root's to say (`services.composition.MIGRATED_SERVICES`); callers pass it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool, text

SERVICES_DIR = Path(__file__).resolve().parent.parent


def alembic_config(service: str, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    # ConfigParser interpolation would choke on a literal % in a password.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def upgrade(database_url: str, services: tuple[str, ...], revision: str = "head") -> None:
    """Migrate `services` (the composition root's `MIGRATED_SERVICES`, or some of them) in their order;
    the order matters only for a fresh database's first start, schemas never reference each other."""
    for service in services:
        command.upgrade(alembic_config(service, database_url), revision)


def downgrade(database_url: str, services: tuple[str, ...], revision: str = "base") -> None:
    for service in reversed(services):
        command.downgrade(alembic_config(service, database_url), revision)


def run_env(schema: str, target_metadata: MetaData) -> None:
    """The body of every service's `migrations/env.py` (online mode only: we always have a database)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
    with engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
