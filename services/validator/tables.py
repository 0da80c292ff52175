"""Schema `validator`: every imported lead's verification, queued, in progress or done."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)

from services.runtime.db import runtime_tables
from services.validator.domain import ValidationState

SCHEMA = "validator"
metadata = MetaData(schema=SCHEMA)
outbox, processed_events = runtime_tables(metadata)

# A lead is queued once (its id is the key: a redelivered LeadImported queues nothing), claimed by a
# worker for a pass (`probing` until `locked_until`), and either done (its verdict emitted with it) or
# queued again for a later pass: greylisted (`attempts` counts those passes) or held while the validator
# itself looks at fault (`held`, `held_for` says which part: the SMTP prober or DNS). A re-run queues a
# done lead again with `run` one higher; every verdict carries the run it belongs to.
validations = Table(
    "validations",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("email", Text, nullable=False),
    Column("state", Text, nullable=False, server_default=ValidationState.QUEUED.value),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("held", Boolean, nullable=False, server_default="false"),
    Column("held_for", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("locked_until", DateTime(timezone=True)),
    Column("verdict", Text),
    Column("reason", Text),
    Column("mx", Text),
    Column("smtp_code", Integer),
    Column("catch_all", Boolean, nullable=False, server_default="false"),
    Column("disposable", Boolean, nullable=False, server_default="false"),
    Column("role", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("validated_at", DateTime(timezone=True)),
    Column("run", Integer, nullable=False, server_default="0"),
    # The fair claim walks the queued leads workspace by workspace, campaign by campaign, each campaign's
    # in the order they fall due (see repository.py).
    Index(
        "validations_queue",
        "workspace_id",
        "campaign_id",
        "next_attempt_at",
        postgresql_where=text(f"state = '{ValidationState.QUEUED.value}'"),
    ),
    Index(
        "validations_leases",
        "locked_until",
        postgresql_where=text(f"state = '{ValidationState.PROBING.value}'"),
    ),
    Index("validations_campaign", "campaign_id", "state"),
)
