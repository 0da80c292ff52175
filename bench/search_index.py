"""The leads search's index: the hand-built packed 3-grams against pg_trgm, on the same 1,000,000 leads.

Loads the leads table exactly as bench/leads_table.py does (its `load`: `lead_view`, and `lead_search` with
the packed 3-grams of services/gateway/search.py under their GIN index), then gives `lead_search` what the
standard extension would use instead: the same folded text in a `search` column with a pg_trgm GIN index
(`gin_trgm_ops`, which answers `LIKE '%…%'` itself). Both indexes are rebuilt and timed, and each query the
gateway runs for a search (the capped count, up to 5,001 matches, and, below the cap, the first page by
`-last_activity`) is timed with either index as the GIN step, inside PostgreSQL (no HTTP), one at a time,
alternating between the two (a loaded machine slows both alike):

    .venv/bin/python bench/search_index.py [--leads 1000000] [--runs 50]

It also checks that `unaccent` folds what `services.gateway.search.fold` folds, on every name of the data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leads_table import FIRST, LAST, load, percentile, search_term
from servers import bench_campaign, bench_stack

from services.gateway.search import fold, like_pattern, query_grams, search_words
from services.runtime.db import psycopg_conninfo

CAP = 5001  # the gateway counts a search exactly up to 5,000 matches (SEARCH_COUNT_CAP + 1 rows)
INDEXES = {"grams": ("lead_search_grams", "grams"), "trigrams": ("lead_search_trgm", "search gin_trgm_ops")}

# The GIN step of a search, per index: the gateway's `seq IN (…)` over lead_search; LIKE per word after it.
GRAMS = "v.seq IN (SELECT seq FROM gateway.lead_search WHERE grams @> %(grams)s::bigint[])"
TRIGRAMS = "v.seq IN (SELECT seq FROM gateway.lead_search WHERE {likes})"


def statements(index: str, words: list[str]) -> tuple[str, str]:
    likes = " AND ".join(f"v.search LIKE %(w{i})s" for i in range(len(words)))
    if index == "grams":
        step = GRAMS
    else:
        # pg_trgm takes no trigram from a LIKE piece under 3 characters: such a word would read the whole index.
        narrowing = [i for i, word in enumerate(words) if len(word) >= 3]
        step = TRIGRAMS.format(likes=" AND ".join(f"search LIKE %(w{i})s" for i in narrowing) or "true")
    where = f"v.campaign_id = %(campaign)s AND v.workspace_id = %(workspace)s AND {step} AND {likes}"
    count = f"SELECT count(*) FROM (SELECT 1 FROM gateway.lead_view AS v WHERE {where} LIMIT {CAP}) AS capped"
    page = (
        f"SELECT v.id FROM gateway.lead_view AS v WHERE {where} "
        "ORDER BY v.last_activity_at DESC NULLS LAST, v.seq DESC LIMIT 51"
    )
    return count, page


def add_trigram_index(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    conn.execute("ALTER TABLE gateway.lead_search ADD COLUMN IF NOT EXISTS search text")
    t0 = time.perf_counter()
    conn.execute(
        "UPDATE gateway.lead_search AS s SET search = v.search FROM gateway.lead_view AS v WHERE v.seq = s.seq"
    )
    print(f"  copied the folded text into lead_search ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    conn.execute("VACUUM ANALYZE gateway.lead_search")


def build(conn: psycopg.Connection[tuple[object, ...]], index: str) -> tuple[float, int]:
    """(seconds to build the index from scratch, its size in bytes); both indexes stay for the queries."""
    name, column = INDEXES[index]
    conn.execute(f"DROP INDEX IF EXISTS gateway.{name}")
    t0 = time.perf_counter()
    conn.execute(f"CREATE INDEX {name} ON gateway.lead_search USING gin ({column})")
    seconds = time.perf_counter() - t0
    conn.execute("ANALYZE gateway.lead_search")
    size = conn.execute("SELECT pg_relation_size(%s::regclass)", (f"gateway.{name}",)).fetchone()
    assert size is not None and isinstance(size[0], int)
    return seconds, size[0]


def insert_cost(conn: psycopg.Connection[tuple[object, ...]], index: str, rows: int) -> float:
    """Seconds to insert `rows` leads' search rows into an empty copy of lead_search with only `index`
    (what a projection batch pays per lead for the GIN entries; the B-trees are left out of both)."""
    conn.execute("DROP TABLE IF EXISTS bench_search")
    conn.execute("CREATE TABLE bench_search (seq bigint, grams bigint[], search text)")
    conn.execute(f"CREATE INDEX ON bench_search USING gin ({INDEXES[index][1]})")
    t0 = time.perf_counter()
    conn.execute(
        "INSERT INTO bench_search SELECT seq, grams, search FROM gateway.lead_search ORDER BY seq LIMIT %s",
        (rows,),
    )
    seconds = time.perf_counter() - t0
    conn.execute("DROP TABLE bench_search")
    return seconds


def timed_pair(
    conn: psycopg.Connection[tuple[object, ...]], sqls: tuple[str, str], params: dict[str, object], runs: int
) -> tuple[tuple[list[float], list[float]], tuple[object, object]]:
    """Each statement `runs` times, alternating between the two (a loaded machine slows both alike)."""
    for sql in sqls * 3:
        conn.execute(sql, params).fetchall()  # warm the cache
    samples: tuple[list[float], list[float]] = ([], [])
    results: list[object] = [None, None]
    for _ in range(runs):
        for i, sql in enumerate(sqls):
            t0 = time.perf_counter()
            results[i] = conn.execute(sql, params).fetchall()
            samples[i].append((time.perf_counter() - t0) * 1000)
    return samples, (results[0], results[1])


def unaccent_disagreements(conn: psycopg.Connection[tuple[object, ...]], texts: list[str]) -> list[str]:
    rows = conn.execute("SELECT t, lower(unaccent(t)) FROM unnest(%s::text[]) AS t", (texts,)).fetchall()
    return [
        f"{text!r}: unaccent {folded!r}, fold {fold(str(text))!r}"
        for text, folded in rows
        if folded != fold(str(text))
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with bench_stack("sequencer", "gateway") as stack:
        conninfo = psycopg_conninfo(stack.database_url)
        _, workspace_id, campaign_id = bench_campaign(stack)
        stack.stop()  # nothing but SQL from here on
        companies = load(conninfo, workspace_id, campaign_id, args.leads)
        term, matches = search_term(conninfo, campaign_id, companies, args.leads)
        queries = [
            (f"q={term!r} ({matches} matches)", term, True),
            ("q='novak' (broad: count only)", "novak", False),
            ("q='katerina brno' (two words)", "katerina brno", True),
            # Pieces of an email address: pg_trgm indexes alphanumeric words only, the grams every 3 characters.
            ("q='novak12@' (email piece)", "novak12@", True),
            ("q='k.cz' (email piece)", "k.cz", False),
        ]
        with psycopg.connect(conninfo, autocommit=True) as conn:
            add_trigram_index(conn)
            results: list[tuple[str, str, list[float], object]] = []
            indexes = ("grams", "trigrams")
            insert_rows = min(args.leads, 100_000)
            inserts = {index: insert_cost(conn, index, insert_rows) for index in indexes}
            builds = {index: build(conn, index) for index in indexes}
            for label, q, with_page in queries:
                words = search_words(q)
                params: dict[str, object] = {
                    "campaign": campaign_id,
                    "workspace": workspace_id,
                    "grams": query_grams(words),
                    **{f"w{i}": like_pattern(word) for i, word in enumerate(words)},
                }
                (grams_count, grams_page), (trgm_count, trgm_page) = (
                    statements(index, words) for index in indexes
                )
                kinds = [("capped count", (grams_count, trgm_count))]
                if with_page:  # above the cap the gateway's page walks the sort index, without the GIN step
                    kinds.append(("first page", (grams_page, trgm_page)))
                for kind, sqls in kinds:
                    samples, answers = timed_pair(conn, sqls, params, args.runs)
                    for index, index_samples, answer in zip(indexes, samples, answers, strict=True):
                        shown = answer[0][0] if kind == "capped count" else f"{len(answer)} rows"  # type: ignore[index,arg-type]
                        results.append((index, f"{kind} {label}", index_samples, shown))
            names = sorted({*FIRST, *LAST, *companies, "Łukasz Żółć", "Straße", "Ærø", "Øster"})
            disagreements = unaccent_disagreements(conn, names)
    print(f"leads: {args.leads:,} in one campaign; {args.runs} runs per row, one at a time, in PostgreSQL\n")
    for index, (seconds, size) in builds.items():
        print(
            f"{index:<8}  index built in {seconds:5.1f} s, {size / 2**20:6.1f} MiB; "
            f"{insert_rows:,} rows inserted with it in {inserts[index]:.2f} s"
        )
    print()
    width = max(len(label) for _, label, _, _ in results)
    print(f"{'index':<8}  {'query':<{width}}  {'p50 ms':>7}  {'p95 ms':>7}  answer")
    for index, label, timings, answer in sorted(results, key=lambda r: r[0] == "trigrams"):
        p50, p95 = statistics.median(timings), percentile(timings, 95)
        print(f"{index:<8}  {label:<{width}}  {p50:7.2f}  {p95:7.2f}  {answer}")
    print(f"\nunaccent + lower against fold() on {len(names)} names: {len(disagreements)} disagree")
    for line in disagreements[:10]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
