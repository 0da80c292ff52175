"""`kill -9` of the sequencer in the middle of emitting 30,000 due steps: restarted, every (lead, step) has
exactly one StepDue in the stream, none lost, none twice."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import psycopg
import pytest

from contracts import StepDue
from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from services.runtime.db import psycopg_conninfo
from tests.e2e.api import stream_events
from tests.harness import ServiceStack, eventually, temporary_nats

LEADS = 30_000
STEPS = [{"subject": "Hi {{first_name}}", "body": "Hello from {{company_name|us}}", "delay_minutes": 0}]


@pytest.fixture
def sequencer_alone(fresh_database_url: Callable[[], str]) -> Iterator[ServiceStack]:
    """The sequencer alone, on a NATS server of this test (its stream holds only these StepDue)."""
    database_url = fresh_database_url()
    migrations.upgrade(database_url, MIGRATED_SERVICES)
    with temporary_nats() as server:
        stack = ServiceStack(nats=server, database_url=database_url)
        try:
            yield stack
        finally:
            stack.stop()


def due_leads(conninfo: str) -> tuple[uuid.UUID, uuid.UUID]:
    """An active campaign whose LEADS leads are all scheduled and due (as after a big import)."""
    campaign_id, workspace_id = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sequencer.campaigns (id, workspace_id, name, status, steps, mailbox_ids, activated_at)"
            " VALUES (%s, %s, 'crash', 'active', %s, ARRAY[gen_random_uuid()], now())",
            (campaign_id, workspace_id, json.dumps(STEPS)),
        )
        conn.execute(
            """
            INSERT INTO sequencer.leads (lead_id, campaign_id, workspace_id, email, "values", verdict, state,
                due_at, sendable_at)
            SELECT gen_random_uuid(), %s, %s, 'lead' || g || '@firma.cz',
                   jsonb_build_object('first_name', 'Name' || g, 'custom', '{}'::jsonb), 'valid', 'scheduled',
                   now() - interval '1 hour' + g * interval '1 ms', now() - interval '1 hour'
            FROM generate_series(1, %s) AS g
            """,
            (campaign_id, workspace_id, LEADS),
        )
    return campaign_id, workspace_id


def count(conninfo: str, query: str, *args: object) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(query, args).fetchone()
    return int(row[0]) if row else 0


async def test_a_sequencer_killed_mid_emission_loses_and_repeats_no_step(
    sequencer_alone: ServiceStack,
) -> None:
    conninfo = psycopg_conninfo(sequencer_alone.database_url)
    campaign_id, workspace_id = due_leads(conninfo)
    due_query = "SELECT count(*) FROM sequencer.leads WHERE campaign_id = %s AND state = 'due'"

    sequencer_alone.start("sequencer")
    sequencer = sequencer_alone.services["sequencer"]
    deadline = time.monotonic() + 60
    while (done := count(conninfo, due_query, campaign_id)) < 2_000:
        assert time.monotonic() < deadline, "the sequencer emitted nothing"
        await asyncio.sleep(0.01)
    sequencer.kill()
    at_kill = count(conninfo, due_query, campaign_id)
    assert done <= at_kill < LEADS, f"no kill window: {at_kill} of {LEADS} were due already"
    # What committed is whole: every lead marked due has its StepDue (in the outbox or published).
    assert (
        count(conninfo, "SELECT count(*) FROM sequencer.leads WHERE state = 'scheduled'") == LEADS - at_kill
    )

    sequencer.start()

    async def all_emitted() -> bool:
        emitted = count(conninfo, due_query, campaign_id)
        return emitted == LEADS and count(conninfo, "SELECT count(*) FROM sequencer.outbox") == 0

    await eventually(all_emitted, within=120)
    events = await stream_events(sequencer_alone.nats_url, str(workspace_id), "step_due")
    assert all(isinstance(e, StepDue) and e.campaign_id == campaign_id for e in events)
    per_step = Counter((e.lead_id, e.step) for e in events)
    assert len(per_step) == LEADS, f"{LEADS - len(per_step)} steps lost"
    assert set(per_step.values()) == {1}, "a step was emitted twice"
    with psycopg.connect(conninfo) as conn:
        leads = {row[0] for row in conn.execute("SELECT lead_id FROM sequencer.leads")}
    assert {lead for lead, _ in per_step} == leads
