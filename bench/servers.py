"""What a benchmark runs against: embedded NATS and PostgreSQL in a temporary directory, migrated, and
some of Leadflow's services as processes (`tests.harness.ServiceStack`), all stopped and removed again."""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.composition import MIGRATED_SERVICES, bus_grants
from services.runtime import migrations
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.embedded_pg import EmbeddedPostgres, create_database
from tests.harness import TEST_CLIENT, TEST_CLIENT_GRANT, ServiceStack
from tests.stack_fixtures import create_workspace_key


@contextmanager
def bench_stack(*services: str) -> Iterator[ServiceStack]:
    """The servers, migrated, with `services` started; everything stopped on the way out."""
    # `timeout` and CI send SIGTERM: exit through the `finally` below so no server is left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    tmp = Path(tempfile.mkdtemp(prefix="leadflow-bench-"))
    nats_server = EmbeddedNats(tmp / "nats", users=bus_grants(), extra_users={TEST_CLIENT: TEST_CLIENT_GRANT})
    postgres = EmbeddedPostgres(tmp / "pg")
    stack: ServiceStack | None = None
    try:
        nats_server.start()
        database_url = create_database(postgres.start(), "bench")
        migrations.upgrade(database_url, MIGRATED_SERVICES)
        stack = ServiceStack(nats=nats_server, database_url=database_url)
        stack.start(*services)
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        nats_server.stop()
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_campaign(stack: ServiceStack) -> tuple[str, uuid.UUID, uuid.UUID]:
    """A workspace key (made by the CLI, as a user would), its workspace id and a new campaign's id (made
    through the API; the stack must run the sequencer and the gateway)."""
    key = create_workspace_key(stack, "bench")
    headers = {"Authorization": f"Bearer {key}"}
    workspace = httpx.get(f"{stack.gateway_url}/api/v1/workspace", headers=headers)
    workspace.raise_for_status()
    created = httpx.post(f"{stack.gateway_url}/api/v1/campaigns", headers=headers, json={"name": "bench"})
    created.raise_for_status()
    return key, uuid.UUID(workspace.json()["id"]), uuid.UUID(created.json()["id"])
