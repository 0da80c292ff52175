"""`kill -9` of the importer in the middle of a 50,000-row import loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import httpx
import psycopg

from contracts import LeadImported
from services.runtime.db import psycopg_conninfo
from tests.e2e.api import create_campaign, start_import, stream_events, wait_for_import, wait_for_leads
from tests.harness import ServiceStack

ROWS = 50_000


def big_csv(rows: int) -> bytes:
    lines = ["email,first_name,company"]
    lines += [f"lead{i:06d}@company{i % 997}.cz,Name{i},Company {i % 997}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def test_importer_killed_mid_import_resumes_exactly_once(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    campaign_id = await create_campaign(client, "crash test")
    started = await start_import(
        client, campaign_id, big_csv(ROWS), {"email": "email", "first_name": "first_name"}
    )
    import_id = started["id"]

    # Wait until some chunks are committed, but not all, then kill the importer without warning.
    deadline = time.monotonic() + 60
    while True:
        status = (await client.get(f"/api/v1/imports/{import_id}")).json()
        if 2_000 <= status["rows_done"] < ROWS - 5_000:
            break
        assert status["state"] == "running" and time.monotonic() < deadline, f"no kill window: {status}"
        await asyncio.sleep(0.02)
    importer = stack.services["importer"]
    importer.kill()
    # With the importer gone the API answers 503; the committed checkpoint is in its table.
    assert (await client.get(f"/api/v1/imports/{import_id}")).status_code == 503
    with psycopg.connect(psycopg_conninfo(stack.database_url)) as conn:
        state, killed_at = conn.execute(
            "SELECT state, rows_done FROM importer.imports WHERE id = %s", (uuid.UUID(import_id),)
        ).fetchone() or ("", 0)
    assert state == "running" and 0 < killed_at < ROWS

    importer.start()
    done = await wait_for_import(client, import_id, within=180)
    assert done["state"] == "completed", done
    assert done["counts"]["imported"] == ROWS
    assert sum(done["counts"].values()) == ROWS

    with psycopg.connect(psycopg_conninfo(stack.database_url)) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT email_key) FROM importer.leads WHERE import_id = %s",
            (uuid.UUID(import_id),),
        ).fetchone() or (0, 0)
        workspace_id = str(
            conn.execute(
                "SELECT workspace_id FROM importer.imports WHERE id = %s", (uuid.UUID(import_id),)
            ).fetchone()[0]  # type: ignore[index]
        )
    assert total == distinct == ROWS

    events = [
        e
        for e in await stream_events(stack.nats_url, workspace_id, "lead_imported")
        if isinstance(e, LeadImported) and str(e.import_id) == import_id
    ]
    per_lead = Counter(lead.lead_id for event in events for lead in event.leads)
    assert len(per_lead) == ROWS
    assert set(per_lead.values()) == {1}, "a lead appeared in more than one LeadImported message"
    assert sorted(e.chunk for e in events) == list(range(len(events)))

    page = await wait_for_leads(client, campaign_id, ROWS, within=120)
    assert page["total"] == ROWS
