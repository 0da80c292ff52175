"""The sequencer's emission of due steps, with 100,000 and with 1,000,000 leads in one campaign.

Starts a temporary embedded PostgreSQL, migrates the sequencer's schema and, for each size in `--sizes`,
creates an active campaign of two steps (step 1 names `{{first_name}}` and `{{company_name|…}}`, step 2
is a follow-up in its thread) and loads its leads straight into `sequencer.leads` (one INSERT … SELECT
from generate_series: the import is not what is measured), every one scheduled for step 1 and due (due
times spread over the past two days; a tenth on step 2 with a Message-ID in their thread).

It then times the emission pass the service runs (`Emitter.emit_campaign`, the service's own code and
session, in as many concurrent workers as the service's loop has, its garbage collector tuned as every
service's is) until `--steps` leads were taken, `--rounds` times in a row: each batch one transaction that
claims the earliest due leads `FOR UPDATE SKIP LOCKED`, renders their step, writes the StepDue events to
the outbox in one COPY and marks the leads `due`. It prints steps/s per size and round (and the CPU this
process spent per step: the Python side of the pass, the rest is PostgreSQL's) and checks the outbox
holds exactly one StepDue per lead taken. Nothing is published (no NATS): the relay's publishing is the
outbox's, measured elsewhere.

Round 1 starts right after a checkpoint (the load's writes flushed, so no checkpoint falls inside a
round): PostgreSQL then writes a full image of every page it changes for the first time, and the claim's
UPDATE touches one random leaf page of the leads' primary key per lead (a million leads: ~3,700 pages, so
nearly one image per step). The later rounds are the steady state of a service emitting all along, whose
pages were written since the last checkpoint; a checkpoint every few minutes makes round 1's cost a
fraction of a percent of that time.

    .venv/bin/python bench/due_steps.py [--sizes 100000 1000000] [--steps 10000] [--batch 2000]
        [--workers 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg

try:
    import uvloop
except ImportError:  # Windows
    uvloop = None  # type: ignore[assignment]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.runtime import migrations
from services.runtime.db import psycopg_conninfo
from services.runtime.embedded_pg import EmbeddedPostgres, create_database
from services.runtime.gc_tuning import tune_gc
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.sequencer.app import EMISSION_WORKERS
from services.sequencer.emission import BATCH, Emitter
from services.sequencer.tables import metadata

T = TypeVar("T")

STEPS = [
    {
        "subject": "{{first_name}}, a question about {{company_name|your company}}",
        "body": "Hello {{first_name}},\n\nwe help companies like {{company_name|yours}} in {{city|Prague}}.\n",
        "delay_minutes": 0,
    },
    {"subject": "", "body": "Following up, {{first_name}}.", "delay_minutes": 2880},
]


def load(conninfo: str, leads: int) -> uuid.UUID:
    campaign_id, workspace_id = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sequencer.campaigns (id, workspace_id, name, status, steps, mailbox_ids, activated_at)"
            " VALUES (%s, %s, 'bench', 'active', %s, ARRAY[gen_random_uuid()], now())",
            (campaign_id, workspace_id, json.dumps(STEPS)),
        )
        conn.execute(
            """
            INSERT INTO sequencer.leads (lead_id, campaign_id, workspace_id, email, "values", verdict,
                state, next_step, due_at, sendable_at, message_ids, thread_mailbox_id)
            SELECT gen_random_uuid(), %(c)s, %(w)s, 'lead' || g || '@firma' || (g %% 20000) || '.cz',
                   jsonb_build_object('first_name', 'Name' || g, 'company_name', 'Company ' || (g %% 997),
                                      'custom', '{}'::jsonb),
                   'valid', 'scheduled', CASE WHEN g %% 10 = 0 THEN 2 ELSE 1 END,
                   now() - interval '2 days' + (g * interval '1 ms') * (172800000.0 / %(n)s),
                   now() - interval '3 days',
                   CASE WHEN g %% 10 = 0 THEN ARRAY['<' || g || '@firma.cz>'] ELSE '{}'::text[] END,
                   CASE WHEN g %% 10 = 0 THEN gen_random_uuid() END
            FROM generate_series(1, %(n)s) AS g
            """,
            {"c": campaign_id, "w": workspace_id, "n": leads},
        )
        conn.execute("VACUUM ANALYZE sequencer.leads")
        # The load's writes flushed now, not by a checkpoint in the middle of the timed emission.
        conn.execute("CHECKPOINT")
    return campaign_id


async def emit(
    database_url: str, campaign_id: uuid.UUID, steps: int, batch: int, workers: int, rounds: int
) -> tuple[list[tuple[float, float]], int]:
    """`rounds` timed rounds of `steps` due steps each, one after the other; each round's seconds and this
    process's CPU seconds, and how many leads were taken in all."""
    service = Service(
        name="sequencer",
        metadata=metadata,
        settings=Settings(nats_url="nats://127.0.0.1:1", database_url=database_url),
    )
    emitter = Emitter(service, batch=batch)
    taken = 0

    async def worker(round_left: list[int]) -> None:
        # As the service's emission loop's workers: passes one after the other while there is work.
        nonlocal taken
        while round_left[0] > 0:
            want = min(batch, round_left[0])
            round_left[0] -= want
            got = await emitter.emit_campaign(campaign_id, datetime.now(UTC), want)
            assert got == want, f"only {taken + got} due steps found"
            taken += got

    timed: list[tuple[float, float]] = []
    try:
        # A running service's connections are open and its statements planned: one step, untimed, first.
        taken += await emitter.emit_campaign(campaign_id, datetime.now(UTC), 1)
        # And its garbage collector tuned, as every service's is once it has started.
        tune_gc()
        for _ in range(rounds):
            left = [steps]
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker(left) for _ in range(workers)))
            timed.append((time.perf_counter() - started, time.process_time() - cpu))
    finally:
        await service.engine.dispose()
    return timed, taken


def check(conninfo: str, campaign_id: uuid.UUID, taken: int) -> None:
    with psycopg.connect(conninfo) as conn:
        events, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT convert_from(payload, 'UTF8')::jsonb ->> 'lead_id')"
            " FROM sequencer.outbox WHERE subject LIKE '%%.step_due'"
        ).fetchone() or (0, 0)
        due = conn.execute(
            "SELECT count(*) FROM sequencer.leads WHERE campaign_id = %s AND state = 'due'", (campaign_id,)
        ).fetchone()
        conn.execute("DELETE FROM sequencer.outbox")
        conn.commit()
    assert events == distinct == taken == (due or (0,))[0], (events, distinct, taken, due)


def run_as_service(work: Coroutine[Any, Any, T]) -> T:
    """On the event loop the sequencer runs on: uvloop, which uvicorn takes when it is installed."""
    if uvloop is None:
        return asyncio.run(work)
    return uvloop.run(work)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--workers", type=int, default=EMISSION_WORKERS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="leadflow-bench-due-"))
    server = EmbeddedPostgres(data_dir)
    try:
        database_url = create_database(server.start(), "bench_due_steps")
        migrations.upgrade(database_url, ("sequencer",))
        conninfo = psycopg_conninfo(database_url)
        rows: list[tuple[int, int, float, float, float]] = []
        for size in args.sizes:
            started = time.perf_counter()
            campaign_id = load(conninfo, size)
            loaded = time.perf_counter() - started
            timed, taken = run_as_service(
                emit(database_url, campaign_id, args.steps, args.batch, args.workers, args.rounds)
            )
            check(conninfo, campaign_id, taken)
            rows.extend(
                (size, number, elapsed, cpu, loaded) for number, (elapsed, cpu) in enumerate(timed, 1)
            )
        print(
            f"{'leads':>10} {'round':>6} {'steps':>7} {'seconds':>8} {'steps/s':>9} {'CPU µs/step':>12}   (load)"
        )
        for size, number, elapsed, cpu, loaded in rows:
            print(
                f"{size:>10,} {number:>6} {args.steps:>7,} {elapsed:>8.2f} {args.steps / elapsed:>9,.0f}"
                f" {cpu / args.steps * 1e6:>12.0f}   ({loaded:.0f} s)"
            )
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
