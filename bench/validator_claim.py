"""The validator's claim of a batch of due leads, with a million leads queued: fair versus first-due.

Starts a temporary embedded PostgreSQL, migrates the validator's schema, and queues `--leads` leads:
all but `--workspaces` x `--small-campaigns` x `--small-leads` of them in ONE big campaign (the backlog of a huge import),
the rest in small campaigns of `--workspaces` other workspaces, queued after the backlog (later
`next_attempt_at`). It then times, each in a transaction that is rolled back so every claim sees the same
queue:

* the fair claim the runner makes (`Validations.claim`'s statements: lapsed leases, the loose index
  scan for the queues with due leads, rounds of `FairClaim` shares claimed with `FOR UPDATE SKIP LOCKED`);
* the claim it replaced: `ORDER BY next_attempt_at LIMIT 500 FOR UPDATE SKIP LOCKED` over the old
  `validations_due (next_attempt_at) WHERE state <> 'done'` index (created for the comparison, dropped
  after).

It prints the median and worst time of `--repeat` claims of each, how many of the claimed leads belong to
small campaigns, and EXPLAIN ANALYZE of the fair claim's two statements.

    .venv/bin/python bench/validator_claim.py [--leads 1000000] [--workspaces 100]
        [--small-campaigns 3] [--small-leads 51] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.runtime import migrations
from services.runtime.db import create_engine, psycopg_conninfo, session_factory
from services.runtime.embedded_pg import EmbeddedPostgres, create_database
from services.validator.fair_claim import FairClaim, Queue
from services.validator.repository import ValidationRepository
from services.validator.runner import BATCH, LEASE

BIG_WORKSPACE = "00000000-0000-0000-0000-0000000000aa"
BIG_CAMPAIGN = "00000000-0000-0000-0000-0000000000bb"

OLD_CLAIM = """
    UPDATE validator.validations SET state = 'probing', locked_until = now() + interval '15 minutes'
    WHERE lead_id IN (
        SELECT lead_id FROM validator.validations
        WHERE state <> 'done' AND next_attempt_at <= now()
          AND (state = 'queued' OR locked_until < now())
        ORDER BY next_attempt_at LIMIT 500 FOR UPDATE SKIP LOCKED)
    RETURNING campaign_id
"""


def load(conninfo: str, leads: int, workspaces: int, small_campaigns: int, small_leads: int) -> int:
    small = workspaces * small_campaigns * small_leads
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO validator.validations (lead_id, workspace_id, campaign_id, email, next_attempt_at)
            SELECT gen_random_uuid(), %s, %s, 'lead' || g || '@firma' || (g %% 20000) || '.cz',
                   now() - interval '2 hours' + g * interval '1 ms'
            FROM generate_series(1, %s) AS g
            """,
            (BIG_WORKSPACE, BIG_CAMPAIGN, leads - small),
        )
        conn.execute(
            """
            INSERT INTO validator.validations (lead_id, workspace_id, campaign_id, email, next_attempt_at)
            SELECT gen_random_uuid(), md5('ws' || (g / %s / %s))::uuid, md5('c' || (g / %s))::uuid,
                   'lead' || g || '@mala' || (g %% 700) || '.cz', now() - interval '1 minute'
            FROM generate_series(0, %s - 1) AS g
            """,
            (small_campaigns, small_leads, small_leads, small),
        )
        conn.execute("VACUUM ANALYZE validator.validations")
    return small


async def fair_claims(database_url: str, repeat: int) -> tuple[list[float], list[int], int]:
    engine = create_engine(database_url)
    sessions = session_factory(engine=engine)
    times: list[float] = []
    small_claimed: list[int] = []
    rounds = 0
    try:
        for rotation in range(repeat):
            async with sessions() as session:
                await session.begin()
                started = time.perf_counter()
                repo = ValidationRepository.from_session(session)
                await repo.requeue_lapsed()
                plan = FairClaim(await repo.queues(), BATCH, rotation)
                claimed = []
                while shares := plan.next_shares():
                    rounds += 1
                    got = await repo.claim(shares, LEASE)
                    plan.record(Counter(Queue(c.workspace_id, c.campaign_id) for c in got))
                    claimed.extend(got)
                times.append(time.perf_counter() - started)
                small_claimed.append(sum(1 for c in claimed if str(c.campaign_id) != BIG_CAMPAIGN))
                await session.rollback()
    finally:
        await engine.dispose()
    return times, small_claimed, rounds


def old_claims(conninfo: str, repeat: int) -> tuple[list[float], list[int]]:
    times: list[float] = []
    small_claimed: list[int] = []
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "CREATE INDEX validations_due ON validator.validations (next_attempt_at) WHERE state <> 'done'"
        )
        conn.commit()
        try:
            for _ in range(repeat):
                started = time.perf_counter()
                rows = conn.execute(OLD_CLAIM).fetchall()
                times.append(time.perf_counter() - started)
                small_claimed.append(sum(1 for (campaign,) in rows if str(campaign) != BIG_CAMPAIGN))
                conn.rollback()
        finally:
            conn.execute("DROP INDEX validator.validations_due")
            conn.commit()
    return times, small_claimed


async def explain(database_url: str) -> list[str]:
    """EXPLAIN ANALYZE of the fair claim's statements as the runner runs them (its first round)."""
    from sqlalchemy import bindparam, text
    from sqlalchemy.types import Interval

    from services.validator.repository import _CLAIM, _QUEUES

    engine = create_engine(database_url)
    sessions = session_factory(engine=engine)
    try:
        async with sessions() as session:
            await session.begin()
            plan = [r[0] for r in await session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + _QUEUES.text))]
            queues = await ValidationRepository.from_session(session).queues()
            shares = FairClaim(queues, BATCH).next_shares()
            claim = text("EXPLAIN (ANALYZE, BUFFERS) " + _CLAIM.text).bindparams(
                bindparam("lease", type_=Interval)
            )
            plan.append("")
            plan += [
                r[0]
                for r in await session.execute(
                    claim,
                    {
                        "workspaces": [q.workspace_id for q in shares],
                        "campaigns": [q.campaign_id for q in shares],
                        "shares": list(shares.values()),
                        "total": sum(shares.values()),
                        "lease": LEASE,
                    },
                )
            ]
            await session.rollback()
    finally:
        await engine.dispose()
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--small-campaigns", type=int, default=3)
    parser.add_argument("--small-leads", type=int, default=51)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="leadflow-bench-claim-"))
    postgres = EmbeddedPostgres(tmp / "pg")
    try:
        database_url = create_database(postgres.start(), "bench")
        migrations.upgrade(database_url, services=("validator",))
        conninfo = psycopg_conninfo(database_url)
        started = time.perf_counter()
        small = load(conninfo, args.leads, args.workspaces, args.small_campaigns, args.small_leads)
        print(
            f"queued {args.leads:,} leads in {time.perf_counter() - started:.1f} s: one campaign of "
            f"{args.leads - small:,}, {args.workspaces * args.small_campaigns} campaigns of "
            f"{args.small_leads} in {args.workspaces} other workspaces"
        )
        fair, fair_small, rounds = asyncio.run(fair_claims(database_url, args.repeat))
        old, old_small = old_claims(conninfo, args.repeat)
        for name, times, smalls in (("fair claim", fair, fair_small), ("first-due claim", old, old_small)):
            print(
                f"{name:>16}: median {statistics.median(times) * 1000:.1f} ms, worst "
                f"{max(times) * 1000:.1f} ms; leads of small campaigns per batch of {BATCH}: "
                f"{statistics.median(smalls):.0f}"
            )
        print(f"fair claim rounds per claim: {rounds / args.repeat:.1f}")
        print("\n".join(asyncio.run(explain(database_url))))
    finally:
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
