"""Every state column of the migrated schemas has its enum, and the database names only the enum's values.

No state column has a CHECK constraint today; the values the schema itself names for a column (its default,
the predicates of its partial indexes, and a CHECK constraint if one is added) must all be members of the
column's enum, and a CHECK constraint must allow exactly the enum's values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum

import psycopg
import pytest
from psycopg.rows import TupleRow
from sqlalchemy import Table

from contracts import ImportState, LeadStatus
from contracts.campaign_settings import CampaignStatus
from contracts.commands.sends import SendState
from services.composition import MIGRATED_SERVICES
from services.gateway import tables as gateway
from services.gateway.domain import JobState
from services.importer import tables as importer
from services.mailer import tables as mailer
from services.runtime.db import psycopg_conninfo
from services.sequencer import tables as sequencer
from services.sequencer.progress import LeadState
from services.validator import tables as validator
from services.validator.domain import ValidationState

# (schema, table, column) -> the enum of the values it holds, and the table the code maps it with.
STATE_COLUMNS: dict[tuple[str, str, str], tuple[type[StrEnum], Table]] = {
    ("importer", "imports", "state"): (ImportState, importer.imports),
    ("validator", "validations", "state"): (ValidationState, validator.validations),
    ("gateway", "jobs", "state"): (JobState, gateway.jobs),
    ("gateway", "lead_view", "status"): (LeadStatus, gateway.lead_view),
    ("gateway", "lead_view", "base_status"): (LeadStatus, gateway.lead_view),
    ("gateway", "lead_counts", "status"): (LeadStatus, gateway.lead_counts),
    ("sequencer", "campaigns", "status"): (CampaignStatus, sequencer.campaigns),
    ("sequencer", "leads", "state"): (LeadState, sequencer.leads),
    ("gateway", "campaigns", "status"): (CampaignStatus, gateway.campaigns),
    ("mailer", "sends", "state"): (SendState, mailer.sends),
    ("mailer", "campaigns", "status"): (CampaignStatus, mailer.campaigns),
}

_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def _literals(expression: str) -> set[str]:
    return {m.replace("''", "'") for m in _LITERAL.findall(expression)}


def _named_values(
    conn: psycopg.Connection[TupleRow], schema: str, table: str, column: str
) -> dict[str, set[str]]:
    """The values the database names for a column: in its default, its partial indexes and its CHECKs."""
    default = conn.execute(
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (schema, table, column),
    ).fetchone()
    assert default is not None, f"{schema}.{table}.{column} does not exist"
    predicates = conn.execute(
        "SELECT pg_get_expr(indpred, indrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass AND indpred IS NOT NULL",
        (f"{schema}.{table}",),
    ).fetchall()
    checks = conn.execute(
        "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
        "WHERE c.contype = 'c' AND c.conrelid = %s::regclass AND a.attname = %s",
        (f"{schema}.{table}", column),
    ).fetchall()
    return {
        "default": _literals(default[0] or ""),
        "partial indexes": set().union(
            *(_literals(p) for (p,) in predicates if re.search(rf"\b{column}\b", p))
        ),
        "checks": set().union(*(_literals(c) for (c,) in checks)),
    }


@pytest.fixture(scope="module")
def conn(migrated_database_url: str) -> Iterator[psycopg.Connection[TupleRow]]:
    with psycopg.connect(psycopg_conninfo(migrated_database_url)) as connection:
        yield connection


def test_every_state_column_of_the_migrated_schemas_has_an_enum(
    conn: psycopg.Connection[TupleRow],
) -> None:
    rows = conn.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = ANY(%s) AND (column_name ~ '(^|_)(state|status)$')",
        (list(MIGRATED_SERVICES),),
    ).fetchall()
    assert {(s, t, c) for s, t, c in rows} == set(STATE_COLUMNS)


@pytest.mark.parametrize(
    ("schema", "table", "column"), sorted(STATE_COLUMNS), ids=[".".join(k) for k in sorted(STATE_COLUMNS)]
)
def test_the_database_names_only_the_enums_values(
    conn: psycopg.Connection[TupleRow], schema: str, table: str, column: str
) -> None:
    enum, _ = STATE_COLUMNS[(schema, table, column)]
    values = {member.value for member in enum}
    named = _named_values(conn, schema, table, column)
    for where, found in named.items():
        assert found <= values, (
            f"{schema}.{table}.{column}: {where} name {found - values}, not in {enum.__name__}"
        )
    if named["checks"]:
        assert named["checks"] == values, f"{schema}.{table}.{column}: its CHECK allows other values"


@pytest.mark.parametrize(
    ("schema", "table", "column"), sorted(STATE_COLUMNS), ids=[".".join(k) for k in sorted(STATE_COLUMNS)]
)
def test_the_code_s_tables_name_what_the_migrations_made(
    conn: psycopg.Connection[TupleRow], schema: str, table: str, column: str
) -> None:
    """tables.py builds the defaults and index predicates from the enums; they equal the migrated ones."""
    _, mapped = STATE_COLUMNS[(schema, table, column)]
    named = _named_values(conn, schema, table, column)
    default = mapped.c[column].server_default
    code_default = {default.arg} if default is not None else set()  # type: ignore[attr-defined]
    assert {str(v) for v in code_default} == named["default"]
    code_predicates: set[str] = set()
    for index in mapped.indexes:
        where = index.dialect_options["postgresql"]["where"]
        if where is not None and re.search(rf"\b{column}\b", str(where)):
            code_predicates |= _literals(str(where))
    assert code_predicates == named["partial indexes"]
