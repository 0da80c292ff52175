"""How fast the gateway's lead_view projection takes in an importer's leads and a validator's verdicts.

Starts its own embedded NATS and PostgreSQL (temporary), migrates, runs the gateway (and the sequencer,
which creates campaigns) as processes, creates a workspace and a campaign through the API, then publishes straight to the stream, as the services would:

1. `--leads` leads as LeadImported events of 1,000 (an importer's chunks), timed until the campaign's
   lead count shows every one of them;
2. one LeadValidated per lead (single verdicts, in lead order; a tenth invalid), timed until lead_view
   holds every verdict;
3. a re-run as the validator publishes it: LeadsValidated batches of 1,000 verdicts (run 1, every lead
   valid), timed until lead_view holds every verdict and the tenth made Invalid is Pending again.

Each phase prints the projection's rate and, as the raw baseline measured in the same run, how fast
nats-py alone published those events (`publish_async`, acks awaited): the ratio says how close the
projection comes to the rate at which the bus takes them in. The validator verifies about 1,500
addresses/s (bench/validate.py); a projection slower than that shows verdicts later and later.

    .venv/bin/python bench/projection.py [--leads 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers import bench_campaign, bench_stack
from stream import import_chunks, publish, wait_for

from contracts import MAX_BATCH, Event, LeadValidated, Verdict
from contracts.events import ImportedLead, LeadsValidated, ValidatedLead
from services.runtime.db import psycopg_conninfo


def validated_entries(conninfo: str) -> int:
    """How many verdicts the timeline (gateway.lead_events) holds."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM gateway.lead_events WHERE event_type = 'lead_validated'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=50_000)
    args = parser.parse_args()
    with bench_stack("sequencer", "gateway") as stack:  # the sequencer creates campaigns
        conninfo = psycopg_conninfo(stack.database_url)
        _, workspace_id, campaign_id = bench_campaign(stack)

        leads = [
            ImportedLead(
                lead_id=uuid.uuid4(),
                email=f"lead{i}@firma{i % 500}.cz",
                row=i + 1,
                company_name=f"Firma {i % 500}",
            )
            for i in range(args.leads)
        ]
        chunks = import_chunks(workspace_id, campaign_id, leads)
        t0 = time.perf_counter()
        published_chunks = asyncio.run(publish(stack.nats_url, chunks))
        imported = wait_for(
            conninfo,
            "SELECT sum(n) FROM gateway.lead_counts WHERE campaign_id = %s",
            (campaign_id,),
            len(leads),
            t0,
        )

        verdicts: list[Event] = [
            LeadValidated(
                workspace_id=workspace_id,
                campaign_id=campaign_id,
                lead_id=lead.lead_id,
                email=lead.email,
                verdict=Verdict.VALID if i % 10 else Verdict.INVALID,
                reason="accepted" if i % 10 else "mailbox_not_found",
                mx="mx." + lead.email.split("@")[1],
                smtp_code=250 if i % 10 else 550,
            )
            for i, lead in enumerate(leads)
        ]
        t1 = time.perf_counter()
        published_verdicts = asyncio.run(publish(stack.nats_url, verdicts))
        validated = wait_for(
            conninfo,
            "SELECT sum(n) FROM gateway.lead_counts WHERE campaign_id = %s AND validation <> 'pending'",
            (campaign_id,),
            len(leads),
            t1,
        )
        entries = validated_entries(conninfo)
        assert entries == len(leads), f"timeline entries: {entries}"

        batches: list[Event] = [
            LeadsValidated(
                workspace_id=workspace_id,
                campaign_id=campaign_id,
                leads=[
                    ValidatedLead(
                        lead_id=lead.lead_id,
                        email=lead.email,
                        verdict=Verdict.VALID,
                        reason="accepted",
                        mx="mx." + lead.email.split("@")[1],
                        smtp_code=250,
                        run=1,
                    )
                    for lead in leads[start : start + MAX_BATCH]
                ],
            )
            for start in range(0, len(leads), MAX_BATCH)
        ]
        t2 = time.perf_counter()
        published_batches = asyncio.run(publish(stack.nats_url, batches))
        revalidated = wait_for(
            conninfo,
            "SELECT sum(n) FROM gateway.lead_counts WHERE campaign_id = %s AND validation = 'valid' "
            "AND status = 'pending'",
            (campaign_id,),
            len(leads),
            t2,
        )
        entries = validated_entries(conninfo)
        assert entries == 2 * len(leads), f"timeline entries: {entries}"

        n = len(leads)
        print(f"leads: {n:,} in one campaign, projected by one gateway process\n")
        print(f"{'phase':<30}  {'projected':>18}  {'raw publish':>18}  ratio")
        phases = [
            (f"LeadImported ({len(chunks)} x {MAX_BATCH:,})", imported, published_chunks, "leads/s"),
            (f"LeadValidated ({n:,})", validated, published_verdicts, "events/s"),
            (
                f"LeadsValidated ({len(batches)} x {MAX_BATCH:,})",
                revalidated,
                published_batches,
                "verdicts/s",
            ),
        ]
        for label, seconds, baseline, unit in phases:
            print(
                f"{label:<30}  {n / seconds:>7,.0f} {unit:<10}  {n / baseline:>7,.0f} {unit:<10}"
                f"  {baseline / seconds:5.1%}  ({seconds:.1f} s until all projected, {baseline:.1f} s to publish)"
            )


if __name__ == "__main__":
    main()
