"""How fast the leads table answers over a campaign of 1,000,000 leads: pages, sorts, filters, search, totals.

Starts its own NATS and PostgreSQL (embedded, temporary), migrates, COPYs the leads straight into
`gateway.lead_view` (realistic names, companies, statuses; `search` and the `lead_search` grams computed with
services/gateway/search.py as the projection does; the lead_counts triggers fire as for any writer), then
runs the sequencer and the gateway as real processes and times each request through HTTP, one at a time:

    .venv/bin/python bench/leads_table.py [--leads 1000000] [--requests 200]

Targets: p95 < 50 ms for every page request; a bulk status change over 100,000 leads < 5 s (timed only
when `POST /api/v1/campaigns/{id}/leads/bulk` exists).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers import bench_campaign, bench_stack

from services.gateway.leads.keyset import Keyset, LeadSort, encode_page_cursor
from services.gateway.search import fold, grams, lead_search_text
from services.runtime.bulk import copy_text
from services.runtime.collation import person_name, sort_key
from services.runtime.db import psycopg_conninfo
from tests.harness import ServiceStack

FIRST = (  # noqa: SIM905 (as a list literal: one name per line)
    "Jan Petr Josef Pavel Martin Tomáš Jiří Lukáš Jakub David Ondřej Michal Filip Vojtěch Adam "
    "Marek Eva Jana Marie Hana Lucie Kateřina Tereza Veronika Lenka Petra Martina Zuzana "
    "Barbora Klára Anna Anežka Ema Šárka Radka Olga Marta Zdeněk Václav Karel Miroslav Radek "
    "Roman Štěpán Matěj Daniel John Emma Olivia Liam Noah Sophia Lukas Leon Mia Hannah Felix "
    "Jonas Laura Julia Max Paul Lena"
).split()
LAST = (  # noqa: SIM905 (as a list literal: one name per line)
    "Novák Svoboda Novotný Dvořák Černý Procházka Kučera Veselý Horák Němec Marek Pokorný "
    "Pospíšil Hájek Jelínek Král Růžička Beneš Fiala Sedláček Doležal Zeman Kolář Navrátil "
    "Čermák Vaněk Urban Blažek Kříž Kovář Bartoš Vlček Polák Musil Kopecký Šimek Konečný Malý "
    "Holub Štěpánek Kadlec Dostál Smith Jones Müller Schmidt Schneider Fischer Weber Meyer "
    "Wagner Becker Hoffmann Kowalski Nowak"
).split()
SYLLABLES = (  # noqa: SIM905 (as a list literal: one name per line)
    "ar bel cor dan el fin gra hal ix jor kal lum mor nov or pra qua ros sil tor ul ven wes xan "
    "yor zel bri cas dor eth fal gor hex ion kor lyn mar nex oak pil rex syn tek uni vex"
).split()
SUFFIXES = ["s.r.o.", "a.s.", "GmbH", "Ltd", "Group", "Solutions", "Digital", "Labs", "Systems"]
DOMAINS = ["cz", "com", "de", "eu", "io", "sk"]
CITIES = ["Praha", "Brno", "Ostrava", "Plzeň", "Liberec", "Olomouc", "Zlín", "Berlin", "Wien", "Bratislava"]
INDUSTRIES = (  # noqa: SIM905 (as a list literal: one name per line)
    "software marketing retail logistics finance manufacturing healthcare education"
).split()
STATUSES = [  # (status, share): most leads wait or are being contacted
    ("pending", 0.40),
    ("contacted", 0.33),
    ("replied", 0.05),
    ("bounced", 0.04),
    ("invalid", 0.06),
    ("unsubscribed", 0.02),
    ("completed", 0.10),
]
COMPANIES = 4000  # about 225 leads per company: a company's name matches "a few hundred" leads
BATCH = 50_000
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
COLUMNS = (
    "id",
    "workspace_id",
    "campaign_id",
    "import_id",
    "email",
    "first_name",
    "last_name",
    "company_name",
    "city",
    "industry",
    "status",
    "status_at",
    "validation",
    "validation_reason",
    "last_activity_at",
    "created_at",
    "search",
)


def company_names(rng: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < COMPANIES:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
        names.add(f"{word} {rng.choice(SUFFIXES)}")
    return sorted(names)


def ascii_slug(text: str) -> str:
    return "".join(ch for ch in fold(text) if ch.isalnum())


def lead_rows(
    rng: random.Random, workspace_id: uuid.UUID, campaign_id: uuid.UUID, companies: list[str], count: int
) -> Iterator[tuple[Any, ...]]:
    imports = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(5)]
    statuses = [s for s, _ in STATUSES]
    weights = [w for _, w in STATUSES]
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = rng.choice(companies) if rng.random() > 0.12 else None  # 12% without a company
        domain = f"{ascii_slug(company.split()[0])}.{rng.choice(DOMAINS)}" if company else "gmail.com"
        email = f"{ascii_slug(first)}.{ascii_slug(last)}{i}@{domain}"
        status = rng.choices(statuses, weights)[0]
        validation = (
            "invalid" if status == "invalid" else rng.choice(("valid", "valid", "unknown", "pending"))
        )
        created = NOW - timedelta(days=120) + timedelta(seconds=i * 7)
        # 6% never had any activity recorded (leads from before the column was filled).
        activity = None if rng.random() < 0.06 else NOW - timedelta(seconds=rng.randrange(90 * 86400))
        lead_id = uuid.UUID(int=rng.getrandbits(128))
        city, industry = rng.choice(CITIES), rng.choice(INDUSTRIES)
        folded = lead_search_text(email, first, last, company, city)
        yield (
            lead_id,
            workspace_id,
            campaign_id,
            # The first tenth of the leads came in one import: the bulk action's 100,000 at 1M.
            imports[0] if i < count // 10 else imports[1 + i % (len(imports) - 1)],
            email,
            first,
            last,
            company,
            city,
            industry,
            status,
            created,
            validation,
            None if validation == "pending" else "accepted" if validation == "valid" else "catch_all",
            activity,
            created,
            folded,
            # For lead_search, not lead_view columns: the grams and the sort keys, as the projection makes them.
            (
                "{" + ",".join(map(str, grams(folded))) + "}",
                sort_key(company),
                sort_key(person_name(first, last)),
            ),
        )


def load(conninfo: str, workspace_id: uuid.UUID, campaign_id: uuid.UUID, count: int) -> list[str]:
    """COPY `count` leads into lead_view in batches (one statement each, as a projection batch is)."""
    rng = random.Random(20261126)
    companies = company_names(rng)
    rows = lead_rows(rng, workspace_id, campaign_id, companies, count)
    t0 = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        done = 0
        while done < count:
            batch = [next(rows) for _ in range(min(BATCH, count - done))]
            with conn.cursor() as cur:
                with cur.copy(f"COPY gateway.lead_view ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    copy.write(copy_text(row[:-1] for row in batch))
                # The grams and sort keys go to lead_search under the seq each lead just got, as the projection does.
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS bench_grams "
                    "(id uuid, grams bigint[], company_key bytea, name_key bytea)"
                )
                with cur.copy("COPY bench_grams (id, grams, company_key, name_key) FROM STDIN") as copy:
                    copy.write(copy_text((row[0], *row[-1]) for row in batch))
                cur.execute(
                    "INSERT INTO gateway.lead_search "
                    "(seq, grams, campaign_id, company_name, email, company_key, name_key) "
                    "SELECT v.seq, g.grams, v.campaign_id, v.company_name, v.email, g.company_key, g.name_key "
                    "FROM bench_grams AS g JOIN gateway.lead_view AS v ON v.id = g.id"
                )
                cur.execute("TRUNCATE bench_grams")
            conn.commit()
            done += len(batch)
            print(f"  loaded {done:,} leads ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE gateway.lead_view")
        conn.execute("VACUUM ANALYZE gateway.lead_search")
        conn.execute("VACUUM ANALYZE gateway.lead_counts")
    return companies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], n: int
) -> tuple[list[float], Any]:
    samples: list[float] = []
    body: Any = None
    for _ in range(n):
        t0 = time.perf_counter()
        response = await client.get(path, params=params)
        samples.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        body = response.json()
    return samples, body


def deep_cursor(conninfo: str, campaign_id: uuid.UUID, sort: LeadSort | None, depth: int) -> str:
    """The cursor a client holds after paging `depth` rows into `sort` order (found once, with OFFSET)."""
    column = {
        None: None,
        "company": "company_name",
        "-last_activity": "last_activity_at",
    }[sort]
    with psycopg.connect(conninfo) as conn:
        if column is None:
            row = conn.execute(
                "SELECT NULL, seq FROM gateway.lead_view WHERE campaign_id = %s ORDER BY seq OFFSET %s LIMIT 1",
                (campaign_id, depth),
            ).fetchone()
        elif sort == "company":  # in the order of its Czech sort key; the cursor carries the name
            row = conn.execute(
                "SELECT company_name, seq FROM gateway.lead_search WHERE campaign_id = %s "
                "AND company_key IS NOT NULL ORDER BY company_key, seq OFFSET %s LIMIT 1",
                (campaign_id, depth),
            ).fetchone()
        else:
            direction = "DESC" if sort and sort.startswith("-") else "ASC"
            row = conn.execute(
                f"SELECT {column}, seq FROM gateway.lead_view WHERE campaign_id = %s AND {column} IS NOT NULL "
                f"ORDER BY {column} {direction}, seq {direction} OFFSET %s LIMIT 1",
                (campaign_id, depth),
            ).fetchone()
    assert row is not None
    return encode_page_cursor(sort, Keyset(row[0], row[1]))


def search_term(conninfo: str, campaign_id: uuid.UUID, companies: list[str], leads: int) -> tuple[str, int]:
    """A 7-character piece of a company name that matches a few hundred leads."""
    with psycopg.connect(conninfo) as conn:
        for company in companies[len(companies) // 3 :]:
            word = fold(company.split()[0])
            if len(word) < 6:
                continue
            term = word[:7]
            n = conn.execute(
                "SELECT count(*) FROM gateway.lead_view WHERE campaign_id = %s AND search LIKE %s",
                (campaign_id, f"%{term}%"),
            ).fetchone()
            assert n is not None
            if leads * 150 // 1_000_000 <= n[0] <= max(leads * 600 // 1_000_000, 10):
                return term, int(n[0])
    raise RuntimeError("no company word matches a few hundred leads")


def first_import_of(conninfo: str, campaign_id: uuid.UUID) -> str:
    """The import of the first lead to arrive: the one that brought a tenth of the campaign."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT import_id FROM gateway.lead_view WHERE campaign_id = %s ORDER BY seq LIMIT 1",
            (campaign_id,),
        ).fetchone()
    assert row is not None
    return str(row[0])


async def bulk_available(client: httpx.AsyncClient) -> bool:
    spec = (await client.get("/openapi.json")).json()
    return "post" in spec.get("paths", {}).get("/api/v1/campaigns/{campaign_id}/leads/bulk", {})


async def measure(
    stack: ServiceStack, key: str, conninfo: str, campaign_id: uuid.UUID, companies: list[str], n: int
) -> list[tuple[str, list[float], str]]:
    path = f"/api/v1/campaigns/{campaign_id}/leads"
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as client:
        cases: list[tuple[str, dict[str, Any]]] = [
            ("first page (default order -last_activity, 50)", {"limit": 50}),
            ("first page, sort=name (50)", {"limit": 50, "sort": "name"}),
            ("first page, sort=-last_activity (50)", {"limit": 50, "sort": "-last_activity"}),
            ("first page, sort=company (100)", {"limit": 100, "sort": "company"}),
            ("first page, sort=-email (25)", {"limit": 25, "sort": "-email"}),
            ("first page, sort=status (50)", {"limit": 50, "sort": "status"}),
        ]
        rows_total = (await client.get(path, params={"limit": 1})).json()["total"]
        term, term_matches = search_term(conninfo, campaign_id, companies, rows_total)
        deep = rows_total * 9 // 10
        cases += [
            (
                f"deep page @{deep:,} (arrival order, a cursor from before newest first)",
                {"limit": 50, "cursor": deep_cursor(conninfo, campaign_id, None, deep)},
            ),
            (
                f"deep page @{deep * 8 // 10:,}, sort=company",
                {
                    "limit": 50,
                    "sort": "company",
                    "cursor": deep_cursor(conninfo, campaign_id, "company", deep * 8 // 10),
                },
            ),
            (
                f"deep page @{deep * 8 // 10:,}, sort=-last_activity",
                {
                    "limit": 50,
                    "sort": "-last_activity",
                    "cursor": deep_cursor(conninfo, campaign_id, "-last_activity", deep * 8 // 10),
                },
            ),
            ("status=replied page (50)", {"limit": 50, "status": "replied"}),
            (
                "status=replied, sort=-last_activity (50)",
                {"limit": 50, "status": "replied", "sort": "-last_activity"},
            ),
            (f"search q={term!r} ({term_matches} matches, 50)", {"limit": 50, "q": term}),
            (f"search q={term!r}, sort=company", {"limit": 50, "q": term, "sort": "company"}),
            ("search q='novak' (broad: estimate)", {"limit": 50, "q": "novak"}),
            ("total: limit=1, status=bounced&status=replied", {"limit": 1, "status": ["bounced", "replied"]}),
            ("total: limit=1, validation=unknown", {"limit": 1, "validation": "unknown"}),
        ]
        results: list[tuple[str, list[float], str]] = []
        for label, params in cases:
            await timed(client, path, params, 3)  # warm the connection pool and the plan cache
            samples, body = await timed(client, path, params, n)
            estimate = " (estimate)" if body.get("total_is_estimate") else ""
            results.append((label, samples, f"total {body['total']:,}{estimate}, {len(body['items'])} rows"))
        if await bulk_available(client):
            first_import = first_import_of(conninfo, campaign_id)
            expected = (await client.get(path, params={"limit": 1, "import_id": first_import})).json()[
                "total"
            ]
            results += await bulk(client, campaign_id, first_import, expected)
        else:
            print("bulk: endpoint not available")
    return results


async def bulk(
    client: httpx.AsyncClient, campaign_id: uuid.UUID, import_id: str, expected: int
) -> list[tuple[str, list[float], str]]:
    """Unsubscribe every lead of the first import (a tenth of the campaign) by one bulk action; times the
    202, the job finishing (every batch event in the outbox) and the list showing all of them changed."""
    path = f"/api/v1/campaigns/{campaign_id}/leads"
    changed: dict[str, str | int] = {"limit": 1, "import_id": import_id, "status": "unsubscribed"}
    before = (await client.get(path, params=changed)).json()["total"]
    t0 = time.perf_counter()
    started = await client.post(
        f"{path}/bulk",
        json={"action": "set_status", "status": "unsubscribed", "filter": {"import_id": import_id}},
    )
    started.raise_for_status()
    t_accepted = time.perf_counter()
    job = started.json()
    assert job["total"] == expected, job
    t_job = 0.0
    deadline = t0 + 600
    while time.perf_counter() < deadline:
        if not t_job:
            job = (await client.get(f"/api/v1/jobs/{job['id']}")).json()
            if job["state"] != "running":
                assert job["state"] == "completed", job
                t_job = time.perf_counter()
        if t_job and (await client.get(path, params=changed)).json()["total"] >= expected:
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError(f"bulk action unfinished after 600 s: {job}")
    t_listed = time.perf_counter()
    note = f"{expected:,} leads ({before:,} already unsubscribed)"
    return [
        ("bulk set_status: 202 accepted", [(t_accepted - t0) * 1000], note),
        ("bulk set_status: job completed", [(t_job - t0) * 1000], note),
        ("bulk set_status: all listed as changed", [(t_listed - t0) * 1000], note),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with bench_stack("sequencer", "gateway") as stack:
        conninfo = psycopg_conninfo(stack.database_url)
        key, workspace_id, campaign_id = bench_campaign(stack)
        t0 = time.perf_counter()
        companies = load(conninfo, workspace_id, campaign_id, args.leads)
        load_s = time.perf_counter() - t0
        results = asyncio.run(measure(stack, key, conninfo, campaign_id, companies, args.requests))
        print(f"leads: {args.leads:,} in one campaign (loaded by COPY + VACUUM ANALYZE in {load_s:.0f} s)")
        print(f"requests: {args.requests} per row, one at a time, through HTTP\n")
        width = max(len(label) for label, _, _ in results)
        print(f"{'request':<{width}}  {'p50 ms':>7}  {'p95 ms':>7}  answer")
        for label, samples, note in results:
            p50, p95 = statistics.median(samples), percentile(samples, 95)
            print(f"{label:<{width}}  {p50:7.1f}  {p95:7.1f}  {note}")
        print("\ntargets: p95 < 50 ms for every page request; bulk status change over 100,000 leads < 5 s")


if __name__ == "__main__":
    main()
