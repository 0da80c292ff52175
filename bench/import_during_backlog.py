"""How soon a new import's leads are listed while the gateway works through a verification backlog.

Starts its own embedded NATS and PostgreSQL (temporary), runs the sequencer, importer and gateway as
processes, and through the API creates a workspace and two campaigns. The first gets `--backlog` leads
(LeadImported chunks of 1,000 published straight to the stream, as the importer would, and waited for
until listed). Then a publisher stands in for the validator: it publishes the verdicts of all those leads
at once (LeadsValidated batches of 1,000: the backlog), and then keeps re-verifying them at `--rate`
verdicts/s (run after run), above the validator's ~1,500 addresses/s (bench/validate.py), so the
gateway's consumer of every event (`gateway-lead-view`) stays behind. Once it is at least `--lag`
messages behind, a `--rows`-row CSV is imported into the second campaign through
`POST /campaigns/{id}/imports`, `--imports` times. For each,
the clock starts when `GET /imports/{id}` first answers `completed` and stops when
`GET /campaigns/{id}/leads` lists all of that import's leads with `arriving` 0. The script prints each
figure with the backlog's lag at that moment, and exits 1 if an import is not listed within 120 s.

    .venv/bin/python bench/import_during_backlog.py [--backlog 100000] [--rate 5000] [--imports 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import psycopg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers import bench_campaign, bench_stack
from stream import import_chunks, publish, wait_for

from contracts import MAX_BATCH, subjects
from contracts.events import ImportedLead, LeadsValidated, ValidatedLead, Verdict
from services.gateway.projection.consumer import PROJECTION_DURABLE
from services.gateway.projection.imports import IMPORTS_DURABLE
from services.runtime.db import psycopg_conninfo

LISTED_WITHIN_SECONDS = 120


@dataclass
class Backlog:
    """The stand-in validator's progress: verdicts published, and when it started."""

    published: int = 0
    started: float = 0.0

    def rate(self) -> float:
        return self.published / max(time.perf_counter() - self.started, 1e-9)


async def validate_forever(
    nats_url: str,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    leads: list[ImportedLead],
    rate: float,
    backlog: Backlog,
) -> None:
    """Publish LeadsValidated batches for `leads`: the first run at once, the next ones at `rate`
    verdicts/s."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        backlog.started = paced_from = time.perf_counter()
        run = 0
        while True:
            for start in range(0, len(leads), MAX_BATCH):
                batch = LeadsValidated(
                    workspace_id=workspace_id,
                    campaign_id=campaign_id,
                    leads=[
                        ValidatedLead(
                            lead_id=lead.lead_id,
                            email=lead.email,
                            # Every other run finds a tenth of them invalid; the next takes it back.
                            verdict=Verdict.INVALID if run % 2 == 0 and i % 10 == 0 else Verdict.VALID,
                            reason="mailbox_not_found" if run % 2 == 0 and i % 10 == 0 else "accepted",
                            mx="mx." + lead.email.split("@")[1],
                            smtp_code=250,
                            run=run,
                        )
                        for i, lead in enumerate(leads[start : start + MAX_BATCH], start)
                    ],
                )
                await js.publish(
                    batch.subject, batch.to_bytes(), headers={"Nats-Msg-Id": str(batch.event_id)}
                )
                backlog.published += len(batch.leads)
                if run == 0:
                    continue
                ahead = paced_from + (backlog.published - len(leads)) / rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if run == 0:
                paced_from = time.perf_counter()
            run += 1
    finally:
        await nc.close()


async def lag(js: JetStreamContext, durable: str) -> int:
    """Messages the durable consumer has not acknowledged yet (waiting or in flight)."""
    info = await js.consumer_info(subjects.STREAM, durable)
    return int(info.num_pending + info.num_ack_pending)


def make_csv(rows: int, tag: int) -> bytes:
    lines = ["email,first_name,company"]
    lines += [f"new{tag}-{i:05d}@company{i % 97}.cz,Name{i},Company {i % 97}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Measured:
    listed_after_completed: float
    lag_at_completed: int
    lag_at_listed: int


async def import_once(
    client: httpx.AsyncClient, js: JetStreamContext, campaign: str, rows: int, tag: int, listed_before: int
) -> Measured:
    started = await client.post(
        f"/api/v1/campaigns/{campaign}/imports",
        files={"file": ("new.csv", make_csv(rows, tag), "text/csv")},
        data={
            "mapping": json.dumps({"email": "email", "first_name": "first_name", "company_name": "company"})
        },
    )
    started.raise_for_status()
    import_id = started.json()["id"]
    while True:
        status = (await client.get(f"/api/v1/imports/{import_id}")).json()
        if status["state"] != "running":
            break
        await asyncio.sleep(0.02)
    completed = time.perf_counter()
    assert status["state"] == "completed" and status["counts"]["imported"] == rows, status
    lag_at_completed = await lag(js, PROJECTION_DURABLE)
    while True:
        page = (await client.get(f"/api/v1/campaigns/{campaign}/leads", params={"limit": 1})).json()
        if page["total"] >= listed_before + rows and page["arriving"] == 0:
            break
        if time.perf_counter() - completed > LISTED_WITHIN_SECONDS:
            raise SystemExit(f"import {tag}: {page['total'] - listed_before} of {rows} listed after 120 s")
        await asyncio.sleep(0.02)
    listed = time.perf_counter()
    return Measured(listed - completed, lag_at_completed, await lag(js, PROJECTION_DURABLE))


async def measure(args: argparse.Namespace) -> None:
    with bench_stack("sequencer", "importer", "gateway") as stack:
        conninfo = psycopg_conninfo(stack.database_url)
        key, workspace_id, backlog_campaign = bench_campaign(stack)
        leads = [
            ImportedLead(lead_id=uuid.uuid4(), email=f"lead{i}@firma{i % 500}.cz", row=i + 1)
            for i in range(args.backlog)
        ]
        chunks = import_chunks(workspace_id, backlog_campaign, leads)
        t0 = time.perf_counter()
        await publish(stack.nats_url, chunks)
        await asyncio.to_thread(
            wait_for,
            conninfo,
            "SELECT sum(n) FROM gateway.lead_counts WHERE campaign_id = %s",
            (backlog_campaign,),
            len(leads),
            t0,
        )
        print(f"backlog campaign: {len(leads):,} leads listed in {time.perf_counter() - t0:.1f} s")

        nc = await nats.connect(stack.nats_url)
        backlog = Backlog()
        validator = asyncio.create_task(
            validate_forever(stack.nats_url, workspace_id, backlog_campaign, leads, args.rate, backlog)
        )
        results: list[Measured] = []
        try:
            js = nc.jetstream()
            deadline = time.perf_counter() + 120
            while (behind := await lag(js, PROJECTION_DURABLE)) < args.lag:
                if time.perf_counter() > deadline or validator.done():
                    raise SystemExit(f"the backlog never built up: {behind} messages behind")
                await asyncio.sleep(0.1)
            print(
                f"verification backlog: {len(leads):,} verdicts at once, then {args.rate:,.0f}/s, in LeadsValidated "
                f"of {MAX_BATCH:,}; {PROJECTION_DURABLE} {behind} messages (~{behind * MAX_BATCH:,} verdicts) behind\n"
            )
            async with httpx.AsyncClient(
                base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as client:
                campaign = (await client.post("/api/v1/campaigns", json={"name": "new import"})).json()["id"]
                for n in range(args.imports):
                    results.append(await import_once(client, js, campaign, args.rows, n, n * args.rows))
                    r = results[-1]
                    print(
                        f"import {n + 1}: {args.rows:,} rows all listed {r.listed_after_completed:.2f} s after "
                        f"`completed`; {PROJECTION_DURABLE} behind by {r.lag_at_completed} messages "
                        f"(~{r.lag_at_completed * MAX_BATCH:,} verdicts) then, {r.lag_at_listed} when listed"
                    )
            try:
                imports_lag = f"{IMPORTS_DURABLE} behind by {await lag(js, IMPORTS_DURABLE)} at the end"
            except NotFoundError:
                imports_lag = f"no {IMPORTS_DURABLE}"
        finally:
            validator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await validator
            await nc.close()
        with psycopg.connect(conninfo) as conn:
            row = conn.execute(
                "SELECT count(*) FROM gateway.lead_view WHERE verdict_run IS NOT NULL AND campaign_id = %s",
                (backlog_campaign,),
            ).fetchone()
        verified = int(row[0]) if row else 0
        worst = max(r.listed_after_completed for r in results)
        print(
            f"\nworst: {worst:.2f} s (target < 5 s); verdicts published {backlog.published:,}, on average "
            f"{backlog.rate():,.0f}/s; {verified:,} of the backlog's leads have a verdict listed; {imports_lag}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=100_000, help="leads whose verdicts make the backlog")
    parser.add_argument("--rate", type=float, default=5_000, help="verdicts published per second")
    parser.add_argument("--lag", type=int, default=50, help="messages behind before the imports start")
    parser.add_argument("--rows", type=int, default=1_000, help="rows of each new import")
    parser.add_argument("--imports", type=int, default=3)
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
