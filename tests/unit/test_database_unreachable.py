"""Which database errors mean "not reachable right now" (retry the unit of work) and which refuse it."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from sqlalchemy.exc import IntegrityError, OperationalError

from services.runtime.db import database_unreachable


@pytest.mark.parametrize(
    ("exc", "unreachable"),
    [
        (psycopg.OperationalError("connection is bad: Connection refused"), True),
        (errors.AdminShutdown("terminating connection due to unexpected postmaster exit"), True),
        (errors.CannotConnectNow("the database system is starting up"), True),
        (errors.CrashShutdown("crash shutdown"), True),
        (errors.ConnectionFailure("connection failure"), True),
        (OperationalError("SELECT 1", {}, psycopg.OperationalError("server closed the connection")), True),
        (errors.UniqueViolation("duplicate key"), False),
        (errors.QueryCanceled("statement timeout"), False),
        (errors.DeadlockDetected("deadlock"), False),
        (IntegrityError("INSERT", {}, errors.UniqueViolation("duplicate key")), False),
        (ValueError("not a database error"), False),
    ],
)
def test_only_a_lost_or_refused_connection_is_unreachable(exc: BaseException, unreachable: bool) -> None:
    assert database_unreachable(exc) is unreachable
