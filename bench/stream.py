"""Feeding the stream straight, as the services would, and waiting until the gateway's projection
shows it."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import nats
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts import MAX_BATCH, Event, LeadImported
from contracts.events import ImportedLead


def import_chunks(
    workspace_id: uuid.UUID, campaign_id: uuid.UUID, leads: Sequence[ImportedLead]
) -> list[Event]:
    """The leads as one new import's LeadImported chunks of 1,000, as the importer publishes them."""
    import_id = uuid.uuid4()
    return [
        LeadImported(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            import_id=import_id,
            chunk=n,
            leads=list(leads[start : start + MAX_BATCH]),
        )
        for n, start in enumerate(range(0, len(leads), MAX_BATCH))
    ]


async def publish(nats_url: str, events: list[Event]) -> float:
    """Publish every event (deduplicated by its id) and wait for the stream's acks; the seconds it took."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        t0 = time.perf_counter()
        acks = [
            await js.publish_async(e.subject, e.to_bytes(), headers={"Nats-Msg-Id": str(e.event_id)})
            for e in events
        ]
        await asyncio.gather(*acks)
        return time.perf_counter() - t0
    finally:
        await nc.close()


def wait_for(conninfo: str, query: str, params: tuple[object, ...], expected: int, since: float) -> float:
    """Poll `query` (one number) until it reaches `expected`; the seconds since `since`."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        deadline = time.perf_counter() + 600
        while time.perf_counter() < deadline:
            row = conn.execute(query, params).fetchone()
            if row is not None and int(row[0] or 0) >= expected:
                return time.perf_counter() - since
            time.sleep(0.02)
    raise RuntimeError(f"projection unfinished after 600 s: {query}")
