"""How long the first slice takes for a 50,000-row CSV: file in → every lead listed by the API.

Starts its own NATS and PostgreSQL (embedded, temporary), the sequencer, importer and gateway as real
processes, uploads the CSV through HTTP and polls until the leads list shows every lead.

    .venv/bin/python bench/import_slice.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers import bench_stack

from tests.harness import ServiceStack
from tests.stack_fixtures import create_workspace_key


def make_csv(rows: int) -> bytes:
    lines = ["email,first_name,company"]
    lines += [f"lead{i:07d}@company{i % 997}.cz,Name{i},Company {i % 997}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def measure(stack: ServiceStack, key: str, rows: int) -> dict[str, float]:
    data = make_csv(rows)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as client:
        campaign = (await client.post("/api/v1/campaigns", json={"name": "bench"})).json()["id"]
        t0 = time.perf_counter()
        started = await client.post(
            f"/api/v1/campaigns/{campaign}/imports",
            files={"file": ("bench.csv", data, "text/csv")},
            data={"mapping": json.dumps({"email": "email", "first_name": "first_name"})},
        )
        started.raise_for_status()
        t_accepted = time.perf_counter()
        import_id = started.json()["id"]
        t_imported = 0.0
        while True:
            if not t_imported:
                status = (await client.get(f"/api/v1/imports/{import_id}")).json()
                if status["state"] != "running":
                    assert status["state"] == "completed", status
                    t_imported = time.perf_counter()
            listed = (await client.get(f"/api/v1/campaigns/{campaign}/leads", params={"limit": 1})).json()
            if listed["total"] >= rows and t_imported:
                break
            await asyncio.sleep(0.05)
        t_listed = time.perf_counter()
    return {
        "upload_s": t_accepted - t0,
        "import_s": t_imported - t0,
        "listed_s": t_listed - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    with bench_stack("sequencer", "importer", "gateway") as stack:
        key = create_workspace_key(stack, "bench")
        result = asyncio.run(measure(stack, key, args.rows))
        print(f"rows: {args.rows:,}")
        print(f"upload accepted (HTTP → object store → importer ack): {result['upload_s']:.2f} s")
        print(f"import completed (all chunks committed):              {result['import_s']:.2f} s")
        print(f"all leads listed by the API (file in → listed):       {result['listed_s']:.2f} s")
        print(f"end-to-end rate: {args.rows / result['listed_s']:,.0f} leads/s")


if __name__ == "__main__":
    main()
