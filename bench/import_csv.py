"""The importer on a 1,000,000-row CSV, end to end, against the raw COPY baseline on the same file.

Generates a realistic CSV (≈5% duplicates that differ only in case from an earlier row, ≈2% malformed
addresses; email, first_name, last_name, company, city, industry and one custom column, job_title), then
measures, on its own embedded NATS and PostgreSQL:

* the raw baseline: psycopg `COPY` of the file into a staging table plus one
  `INSERT … SELECT … ON CONFLICT DO NOTHING` into a table with the same unique index as `importer.leads`
  (`UNIQUE (campaign_id, email_key)`, the key computed with `lower()`), in one transaction;
* the service path: upload to the JetStream object store → `StartCsvImport` → the importer process
  (parses, normalises, deduplicates, commits chunk by chunk) → PostgreSQL → every event published by the
  outbox relay. The clock starts when the upload begins and stops when the import is `completed` and the
  importer's outbox is empty.

It prints both rates, their ratio, the importer's peak memory (`VmHWM` from /proc, so Linux only), the
breakdown and the CPU time of each process — and of the rest of the machine, with a warning when other
work shared the cores — and exits non-zero when the import did not complete or its counts, leads or events
do not add up (a benchmark that silently measures a broken run is worse than none).

    .venv/bin/python bench/import_csv.py [--rows 1000000] [--keep-file PATH] [--profile PATH]

`--profile PATH` also records the importer with py-spy (`--gil`: the thread holding the GIL; raw collapsed
stacks to PATH) and samples `pg_stat_activity` ~100 times a second, then prints where the time goes: per
thread, per stage, the top functions, and what PostgreSQL was doing for the chunk transactions. It slows
the run a little, so take the figures from a run without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID, uuid4

import nats
import psutil
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts import ImportState, subjects
from contracts.commands import GetImport, ImportStatusReply, StartCsvImport
from contracts.replies import Refusal, read_reply
from services.composition import MIGRATED_SERVICES, bus_grants
from services.runtime import migrations
from services.runtime.db import psycopg_conninfo
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.embedded_pg import EmbeddedPostgres, create_database
from services.runtime.streams import UPLOADS_BUCKET, ensure_streams
from tests.harness import TEST_CLIENT, TEST_CLIENT_GRANT, ServiceStack

DUPLICATE_SHARE = 0.05
MALFORMED_SHARE = 0.02
SEED = 20261126
HEADER = ("email", "first_name", "last_name", "company", "city", "industry", "job_title")
# Our lead field → the CSV's column; job_title is left unmapped, so it becomes a custom variable.
MAPPING = {
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "company_name": "company",
    "city": "city",
    "industry": "industry",
}
TARGET_RATIO = 0.5
TARGET_PEAK_BYTES = 300 * 1000 * 1000
POLL_SECONDS = 0.2
# Other processes using more than this share of one core make a run's figures suspect (it says so).
NOISY_SHARE = 0.10
# The import fails the benchmark when its rows_done does not move for this long.
STALL_SECONDS = 60.0


class BenchFailure(Exception):
    """The run is broken: its figures must not be reported as a measurement."""


# ------------------------------------------------------------------------------------------- the CSV

_FIRST = (
    ("Jan", "jan"), ("Petr", "petr"), ("Jiří", "jiri"), ("Pavel", "pavel"), ("Tomáš", "tomas"),
    ("Martin", "martin"), ("Jaroslav", "jaroslav"), ("Miroslav", "miroslav"), ("Zdeněk", "zdenek"),
    ("Václav", "vaclav"), ("Michal", "michal"), ("František", "frantisek"), ("Josef", "josef"),
    ("Lukáš", "lukas"), ("Ondřej", "ondrej"), ("Jakub", "jakub"), ("David", "david"), ("Karel", "karel"),
    ("Marie", "marie"), ("Jana", "jana"), ("Eva", "eva"), ("Hana", "hana"), ("Anna", "anna"),
    ("Lenka", "lenka"), ("Kateřina", "katerina"), ("Lucie", "lucie"), ("Věra", "vera"),
    ("Alena", "alena"), ("Petra", "petra"), ("Veronika", "veronika"), ("Tereza", "tereza"),
    ("Markéta", "marketa"), ("Barbora", "barbora"), ("Zuzana", "zuzana"), ("John", "john"),
    ("Sarah", "sarah"), ("Michael", "michael"), ("Emma", "emma"), ("Thomas", "thomas"), ("Laura", "laura"),
)  # fmt: skip
_LAST = (
    ("Novák", "novak"), ("Svoboda", "svoboda"), ("Novotný", "novotny"), ("Dvořák", "dvorak"),
    ("Černý", "cerny"), ("Procházka", "prochazka"), ("Kučera", "kucera"), ("Veselý", "vesely"),
    ("Horák", "horak"), ("Němec", "nemec"), ("Pokorný", "pokorny"), ("Marek", "marek"),
    ("Pospíšil", "pospisil"), ("Hájek", "hajek"), ("Jelínek", "jelinek"), ("Král", "kral"),
    ("Růžička", "ruzicka"), ("Beneš", "benes"), ("Fiala", "fiala"), ("Sedláček", "sedlacek"),
    ("Doležal", "dolezal"), ("Zeman", "zeman"), ("Kolář", "kolar"), ("Navrátil", "navratil"),
    ("Čermák", "cermak"), ("Urban", "urban"), ("Vaněk", "vanek"), ("Blažek", "blazek"),
    ("Kříž", "kriz"), ("Kovář", "kovar"), ("Bartoš", "bartos"), ("Vlček", "vlcek"), ("Smith", "smith"),
    ("Müller", "muller"), ("Schmidt", "schmidt"), ("Johnson", "johnson"), ("Weber", "weber"),
    ("Brown", "brown"), ("Fischer", "fischer"), ("Wagner", "wagner"),
)  # fmt: skip
_CITIES = (
    "Praha", "Brno", "Ostrava", "Plzeň", "Liberec", "Olomouc", "České Budějovice", "Hradec Králové",
    "Ústí nad Labem", "Pardubice", "Zlín", "Havířov", "Kladno", "Most", "Opava", "Frýdek-Místek",
    "Karviná", "Jihlava", "Teplice", "Děčín", "Bratislava", "Košice", "Wien", "München", "Berlin",
    "Dresden", "Kraków", "Wrocław", "London", "Amsterdam",
)  # fmt: skip
_INDUSTRIES = (
    "Software", "IT services", "Manufacturing", "Construction", "Logistics", "Retail", "E-commerce",
    "Marketing & advertising", "Financial services", "Insurance", "Real estate", "Healthcare",
    "Education", "Hospitality", "Automotive", "Energy", "Legal services", "Consulting", "Media",
    "Telecommunications", "Food & beverage", "Engineering", "Agriculture", "Public sector",
)  # fmt: skip
_TITLES = (
    "CEO", "CTO", "CFO", "COO", "Managing Director", "Head of Sales", "Sales Manager",
    "Marketing Manager", "Head of Marketing", "Office Manager", "HR Manager", "Procurement Manager",
    "Owner", "Founder", "IT Manager", "Project Manager", "Business Development Manager",
    "Account Manager", "Operations Director", "Purchasing Specialist", "",
)  # fmt: skip
_COMPANY_FORMS = ("s.r.o.", "a.s.", "spol. s r.o.", "GmbH", "Ltd.", "k.s.", "v.o.s.")
_COMPANY_WORDS = (
    "Stavby", "Software", "Logistika", "Trade", "Consulting", "Systems", "Solutions", "Group",
    "Technik", "Media", "Invest", "Servis", "Data", "Energo", "Agro", "Digital", "Partners", "Studio",
)  # fmt: skip
_TLDS = ("cz", "cz", "cz", "cz", "sk", "com", "eu", "de", "at", "pl")
_FREEMAIL = ("seznam.cz", "email.cz", "gmail.com", "centrum.cz", "post.cz", "outlook.com", "volny.cz")


@dataclass(frozen=True)
class Company:
    name: str
    domain: str
    city: str
    industry: str


def _companies(rng: random.Random, count: int = 3000) -> list[Company]:
    companies = []
    seen: set[str] = set()
    for _ in range(count):
        last, last_ascii = rng.choice(_LAST)
        word = rng.choice(_COMPANY_WORDS)
        form = rng.choice(_COMPANY_FORMS)
        # About one company in four writes its legal form after a comma (a quoted CSV field).
        name = f"{last} {word}, {form}" if rng.random() < 0.25 else f"{last} {word} {form}"
        # A few Czech companies use their name with diacritics as an internationalised domain.
        stem = last.lower() if rng.random() < 0.02 else last_ascii
        tld = rng.choice(_TLDS)
        labels = (f"{stem}-{word.lower()}", f"{word.lower()}-{stem}", f"{stem}{word.lower()}", stem)
        domain = next(
            (f"{label}.{tld}" for label in labels if f"{label}.{tld}" not in seen),
            f"{stem}-{word.lower()}-{len(seen)}.{tld}",
        )
        seen.add(domain)
        companies.append(Company(name, domain, rng.choice(_CITIES), rng.choice(_INDUSTRIES)))
    return companies


def _case_variant(email: str, rng: random.Random) -> str:
    """The same address in other letter case (a different string, the same dedupe key)."""
    local, _, domain = email.rpartition("@")
    pick = rng.random()
    if pick < 0.4:
        variant = email.upper()
    elif pick < 0.7:
        variant = f"{local.title()}@{domain.title()}"
    else:
        variant = f"{local}@{domain.upper()}"
    return variant if variant != email else email.swapcase()


def _malformed(local: str, domain: str, rng: random.Random) -> str:
    """A broken address of the kinds spreadsheets contain; every one is invalid for email-validator."""
    kind = rng.randrange(10)
    if kind == 0:
        return f"{local}(at){domain}"
    if kind == 1:
        return f"{local}@"
    if kind == 2:
        return f"@{domain}"
    if kind == 3:
        return f"{local[:1]} {local[1:]}@{domain}"
    if kind == 4:
        return f"{local}..x@{domain}"
    if kind == 5:
        return f"{local}@{domain.rsplit('.', 1)[0]}"
    if kind == 6:
        return f"{local}@@{domain}"
    if kind == 7:
        return f"{local}@{domain.replace('.', ',')}"
    if kind == 8:
        return f"{local}@{domain}."
    return f"{local}@x_{domain}"


@dataclass
class GeneratedCsv:
    path: Path
    rows: int
    size: int
    duplicates: int
    malformed: int
    seconds: float

    @property
    def expected_counts(self) -> dict[str, int]:
        return {
            "imported": self.rows - self.duplicates - self.malformed,
            "duplicate_in_file": self.duplicates,
            "invalid_format": self.malformed,
        }


def generate_csv(path: Path, rows: int, seed: int = SEED) -> GeneratedCsv:
    started = time.perf_counter()
    rng = random.Random(seed)
    duplicates = round(rows * DUPLICATE_SHARE) if rows > 1 else 0
    malformed = round(rows * MALFORMED_SHARE) if rows > 1 else 0
    # 0: an original row, 1: a case variant of an earlier original, 2: a malformed address. Row 0 is always
    # an original, so every duplicate has an earlier row to copy.
    kinds = bytearray(rows)
    special = rng.sample(range(1, rows), duplicates + malformed) if rows > 1 else []
    for position in special[:duplicates]:
        kinds[position] = 1
    for position in special[duplicates:]:
        kinds[position] = 2
    companies = _companies(rng)
    originals: list[tuple[str, ...]] = []
    used: set[str] = set()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        batch: list[tuple[str, ...]] = []
        for i in range(rows):
            kind = kinds[i]
            if kind == 1:
                source = originals[rng.randrange(len(originals))]
                batch.append((_case_variant(source[0], rng), *source[1:]))
            else:
                first, first_ascii = rng.choice(_FIRST)
                last, last_ascii = rng.choice(_LAST)
                company = rng.choice(companies)
                pattern = rng.randrange(10)
                if pattern < 5:
                    local = f"{first_ascii}.{last_ascii}"
                elif pattern < 7:
                    local = f"{first_ascii[0]}{last_ascii}"
                elif pattern < 8:
                    local = first_ascii
                elif pattern < 9:
                    local = f"{last_ascii}.{first_ascii}"
                else:
                    local = f"{first_ascii}_{last_ascii}"
                domain = company.domain if rng.random() < 0.8 else rng.choice(_FREEMAIL)
                if f"{local}@{domain}" in used:
                    local = f"{local}{i}"  # locals never end in a digit otherwise: unique
                if kind == 2:
                    email = _malformed(local, domain, rng)
                else:
                    used.add(f"{local}@{domain}")
                    if rng.random() < 0.08:  # "Jan.Novak@Firma.cz": some exports keep capitals
                        local = ".".join(part.capitalize() for part in local.split("."))
                        domain = domain.capitalize()
                    email = f"{local}@{domain}"
                row = (email, first, last, company.name, company.city, company.industry, rng.choice(_TITLES))
                if kind == 0:
                    originals.append(row)
                batch.append(row)
            if len(batch) >= 50_000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)
    return GeneratedCsv(path, rows, path.stat().st_size, duplicates, malformed, time.perf_counter() - started)


# ------------------------------------------------------------------------------------- the baseline


@dataclass
class BaselineResult:
    copy_s: float
    insert_s: float
    staged: int
    inserted: int
    distinct_keys: int
    cpu: dict[str, float]

    @property
    def total_s(self) -> float:
        return self.copy_s + self.insert_s


def run_baseline(conninfo: str, generated: GeneratedCsv, cpu_of: ProcessCpu) -> BaselineResult:
    """COPY the file into a staging table, then one deduplicating INSERT … SELECT; one transaction."""
    campaign_id, workspace_id, import_id = uuid4(), uuid4(), uuid4()
    columns = sql.SQL(", ").join(map(sql.Identifier, HEADER))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_baseline CASCADE")
        conn.execute("CREATE SCHEMA bench_baseline")
        try:
            # The same columns, primary key and UNIQUE (campaign_id, email_key) as importer.leads.
            conn.execute(
                "CREATE TABLE bench_baseline.leads (LIKE importer.leads INCLUDING DEFAULTS "
                "INCLUDING CONSTRAINTS INCLUDING INDEXES)"
            )
            conn.execute(
                sql.SQL("CREATE TEMP TABLE bench_stage (n integer GENERATED ALWAYS AS IDENTITY, {})").format(
                    sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in HEADER)
                )
            )
            conn.execute("CHECKPOINT")
            conn.autocommit = False
            cpu_before = cpu_of.sample()
            t0 = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy(
                    sql.SQL("COPY bench_stage ({}) FROM STDIN (FORMAT csv, HEADER true)").format(columns)
                ) as copy,
                generated.path.open("rb") as source,
            ):
                while block := source.read(1 << 20):
                    copy.write(block)
            t1 = time.perf_counter()
            cur = conn.execute(
                "INSERT INTO bench_baseline.leads (id, workspace_id, campaign_id, import_id, email, "
                "email_key, first_name, last_name, company_name, city, industry, custom, source_row) "
                "SELECT gen_random_uuid(), %s, %s, %s, s.email, lower(s.email), s.first_name, s.last_name, "
                "s.company, s.city, s.industry, jsonb_build_object('job_title', s.job_title), s.n "
                "FROM bench_stage AS s "
                "ON CONFLICT (campaign_id, email_key) DO NOTHING",
                (workspace_id, campaign_id, import_id),
            )
            inserted = cur.rowcount
            conn.commit()
            t2 = time.perf_counter()
            cpu = cpu_of.since(cpu_before)
            # Checked after the clock stopped: every row was staged, every distinct key inserted once.
            check = conn.execute("SELECT count(*), count(DISTINCT lower(email)) FROM bench_stage").fetchone()
            staged, distinct_keys = check if check is not None else (-1, -1)
        finally:
            conn.rollback()
            conn.autocommit = True
            conn.execute("DROP TABLE IF EXISTS bench_stage")
            conn.execute("DROP SCHEMA IF EXISTS bench_baseline CASCADE")
            conn.execute("CHECKPOINT")
    return BaselineResult(
        copy_s=t1 - t0,
        insert_s=t2 - t1,
        staged=staged,
        inserted=inserted,
        distinct_keys=distinct_keys,
        cpu=cpu,
    )


# ---------------------------------------------------------------------------------- the service path


@dataclass
class ProcessCpu:
    """CPU seconds (user + system) of the processes involved, summed over their lifetime so far."""

    pids: dict[str, int]

    def sample(self) -> dict[str, float]:
        ours = {name: _cpu_seconds(pid, tree=(name == "PostgreSQL")) for name, pid in self.pids.items()}
        machine = psutil.cpu_times()
        # Linux: guest time is already inside user time, and steal is not this machine's work.
        busy = sum(float(getattr(machine, f, 0.0)) for f in ("user", "nice", "system", "irq", "softirq"))
        # Whatever else ran on the machine meanwhile (other test suites, py-spy): it shares the two cores.
        return {**ours, "rest of the machine": busy - sum(ours.values())}

    def since(self, before: dict[str, float]) -> dict[str, float]:
        after = self.sample()
        return {name: after[name] - before[name] for name in after}


def _cpu_seconds(pid: int, *, tree: bool) -> float:
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = float(times.user + times.system)
        if tree:
            # The postmaster reaps its backends: their CPU time ends up in children_*; live ones are summed.
            total += float(times.children_user + times.children_system)
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child_times = child.cpu_times()
                    total += float(child_times.user + child_times.system)
        return total
    except psutil.Error:
        return 0.0


@dataclass
class ServiceResult:
    upload_s: float
    started_s: float
    committed_s: float
    published_s: float
    counts: dict[str, int]
    leads_in_table: int
    lead_imported_messages: int
    leads_in_events: int
    import_completed_messages: int
    cpu: dict[str, float]
    activity: Counter[str] = field(default_factory=Counter)
    profile_lines: list[str] = field(default_factory=list)


async def _request(nc: Any, verb: str, command: StartCsvImport | GetImport) -> ImportStatusReply:
    msg = await nc.request(
        subjects.command_subject("importer", verb),
        command.model_dump_json().encode(),
        timeout=30,
        headers={"content-type": "application/json"},
    )
    answer = read_reply(msg.data, ImportStatusReply)
    if isinstance(answer, Refusal):
        raise BenchFailure(f"{type(command).__name__} was refused: {answer.message} ({answer.kind})")
    return answer


async def _start_profiler(pid: int, output: Path) -> asyncio.subprocess.Process:
    py_spy = Path(sys.executable).parent / "py-spy"
    process = await asyncio.create_subprocess_exec(
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        "--threads",
        "--gil",
        "--nolineno",
        "--rate",
        str(PROFILE_RATE),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.5)  # attached before the upload starts
    if process.returncode is not None:
        raise BenchFailure("py-spy exited at once; can it attach to the importer (ptrace)?")
    return process


async def _stop_profiler(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()


async def run_service_path(
    *,
    nats_url: str,
    conninfo: str,
    upload: BinaryIO,
    generated: GeneratedCsv,
    importer_alive: Callable[[], bool],
    cpu: ProcessCpu,
    importer_pid: int,
    profile: Path | None,
) -> ServiceResult:
    workspace_id, campaign_id, import_id = uuid4(), uuid4(), uuid4()
    nc = await nats.connect(nats_url, connect_timeout=5)
    profiler: asyncio.subprocess.Process | None = None
    activity: Counter[str] = Counter()
    stop_sampling = asyncio.Event()
    sampler: asyncio.Task[None] | None = None
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        store = await js.object_store(UPLOADS_BUCKET)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as db:
            await db.execute("CHECKPOINT")
            if profile is not None:
                profiler = await _start_profiler(importer_pid, profile)
                sampler = asyncio.create_task(_sample_activity(conninfo, activity, stop_sampling))
            cpu_before = cpu.sample()
            t0 = time.perf_counter()
            await store.put(str(import_id), upload)  # type: ignore[arg-type]
            t_uploaded = time.perf_counter()
            await _request(
                nc,
                "start_import",
                StartCsvImport(
                    workspace_id=workspace_id,
                    import_id=import_id,
                    campaign_id=campaign_id,
                    object_name=str(import_id),
                    filename=generated.path.name,
                    total_bytes=generated.size,
                    mapping=MAPPING,
                ),
            )
            t_started = time.perf_counter()
            committed_at = await _wait_until_committed(nc, workspace_id, import_id, importer_alive)
            t_committed = committed_at - t0
            while True:
                cur = await db.execute("SELECT count(*) FROM importer.outbox")
                row = await cur.fetchone()
                if row is not None and row[0] == 0:
                    break
                if not importer_alive():
                    raise BenchFailure("the importer process exited with events still in its outbox")
                await asyncio.sleep(POLL_SECONDS / 4)
            t_published = time.perf_counter()
            cpu_used = cpu.since(cpu_before)
            stop_sampling.set()
            if sampler is not None:
                await sampler
            if profiler is not None:
                await _stop_profiler(profiler)
            final = await _request(
                nc, "get_import", GetImport(workspace_id=workspace_id, import_id=import_id)
            )
            cur = await db.execute(
                "SELECT count(*) FROM importer.leads WHERE campaign_id = %s AND import_id = %s",
                (campaign_id, import_id),
            )
            row = await cur.fetchone()
            leads_in_table = int(row[0]) if row else -1
        messages, leads_in_events = await _count_lead_imported(js, workspace_id, import_id)
        info = await js.stream_info(subjects.STREAM, subjects_filter=f"leadflow.{workspace_id}.>")
        per_subject = info.state.subjects or {}
        completed_messages = per_subject.get(subjects.event_subject(workspace_id, "import_completed"), 0)
    finally:
        stop_sampling.set()
        if sampler is not None and not sampler.done():
            sampler.cancel()
        if profiler is not None:
            await _stop_profiler(profiler)
        await nc.close()
    return ServiceResult(
        upload_s=t_uploaded - t0,
        started_s=t_started - t0,
        committed_s=t_committed,
        published_s=t_published - t0,
        counts={key: value for key, value in final.counts.items()},
        leads_in_table=leads_in_table,
        lead_imported_messages=messages,
        leads_in_events=leads_in_events,
        import_completed_messages=completed_messages,
        cpu=cpu_used,
        activity=activity,
    )


_ACTIVITY = """
SELECT state, left(query, 120) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""
ACTIVITY_SECONDS = 0.01


async def _sample_activity(conninfo: str, samples: Counter[str], stop: asyncio.Event) -> None:
    """What the importer's chunk transaction and outbox relay are doing in PostgreSQL, ~100 times a second."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        while not stop.is_set():
            cur = await conn.execute(_ACTIVITY)
            chunk, relay = _classify_activity(await cur.fetchall())
            samples[f"chunk: {chunk}"] += 1
            samples[f"relay: {relay}"] += 1
            await asyncio.sleep(ACTIVITY_SECONDS)


_STATEMENTS = (
    ("COPY", "COPY into the staging table"),
    ("INSERT INTO importer.leads", "INSERT … SELECT … ON CONFLICT into importer.leads"),
    ("INSERT INTO importer.rejected_rows", "INSERT of rejected rows"),
    ("INSERT INTO importer.outbox", "INSERT of the LeadImported into the outbox"),
    ("UPDATE importer.imports", "UPDATE of the checkpoint"),
    ("SELECT importer.leads", "SELECT of the owners of conflicting addresses"),
    ("SELECT importer.suppressions", "SELECT of suppressed addresses"),
    ("COMMIT", "COMMIT"),
)


def _classify_activity(rows: list[tuple[Any, ...]]) -> tuple[str, str]:
    chunk, relay = "no transaction open", "no transaction open"
    for state, query in rows:
        upper = (query or "").replace('"', "").lstrip().upper()  # psycopg quotes its identifiers
        in_transaction = str(state).startswith("idle in transaction")
        if upper.startswith(("LISTEN", "SELECT PG_TRY_ADVISORY_LOCK")) or upper.startswith(
            "SELECT IMPORTER.IMPORTS.ID"  # a GetImport
        ):
            continue
        if "IMPORTER.OUTBOX" in upper and not upper.startswith("INSERT"):
            if state == "active":
                relay = "executing a statement"
            elif in_transaction and relay == "no transaction open":
                relay = "transaction open, publishing to NATS"
            continue
        if state == "active":
            chunk = "executing: " + next(
                (label for prefix, label in _STATEMENTS if upper.startswith(prefix.upper())),
                "other statements",
            )
        elif in_transaction and chunk == "no transaction open":
            chunk = "transaction open, PostgreSQL idle (waiting for the importer)"
    return chunk, relay


def _activity_lines(activity: Counter[str]) -> list[str]:
    lines = []
    for role in ("chunk", "relay"):
        total = sum(count for key, count in activity.items() if key.startswith(f"{role}: "))
        if not total:
            continue
        title = "the import's chunk transactions" if role == "chunk" else "the outbox relay"
        lines.append(f"PostgreSQL view of {title} (pg_stat_activity, {total:,} samples):")
        for key, count in sorted(activity.items(), key=lambda item: -item[1]):
            if key.startswith(f"{role}: "):
                lines.append(f"  {count / total:6.1%}  {key.removeprefix(f'{role}: ')}")
    return lines


async def _wait_until_committed(
    nc: Any, workspace_id: UUID, import_id: UUID, importer_alive: Callable[[], bool]
) -> float:
    """perf_counter() when the import is first seen `completed`; BenchFailure if it ends otherwise."""
    last_rows, last_move = -1, time.monotonic()
    while True:
        status = await _request(nc, "get_import", GetImport(workspace_id=workspace_id, import_id=import_id))
        if status.state == ImportState.COMPLETED:
            return time.perf_counter()
        if status.state != ImportState.RUNNING:
            raise BenchFailure(f"the import ended {status.state}: {status.error}")
        if status.rows_done != last_rows:
            last_rows, last_move = status.rows_done, time.monotonic()
        elif time.monotonic() - last_move > STALL_SECONDS:
            raise BenchFailure(f"the import made no progress for {STALL_SECONDS:.0f} s at row {last_rows}")
        if not importer_alive():
            raise BenchFailure("the importer process exited during the import")
        await asyncio.sleep(POLL_SECONDS)


async def _count_lead_imported(js: Any, workspace_id: UUID, import_id: UUID) -> tuple[int, int]:
    """(messages, leads) of this import's LeadImported events in the stream; each chunk counted once."""
    subject = subjects.event_subject(workspace_id, "lead_imported")
    info = await js.stream_info(subjects.STREAM, subjects_filter=subject)
    expected = (info.state.subjects or {}).get(subject, 0)
    name = f"bench-{uuid4().hex[:12]}"
    sub = await js.pull_subscribe(
        subject,
        stream=subjects.STREAM,
        config=ConsumerConfig(
            name=name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
        ),
    )
    chunks: set[int] = set()
    leads = messages = 0
    try:
        while messages < expected:
            for msg in await sub.fetch(batch=100, timeout=10):
                messages += 1
                payload = json.loads(msg.data)
                if payload.get("import_id") != str(import_id):
                    raise BenchFailure(f"a LeadImported of another import on {subject}")
                if payload["chunk"] in chunks:
                    raise BenchFailure(f"chunk {payload['chunk']} is in the stream twice")
                chunks.add(payload["chunk"])
                leads += len(payload["leads"])
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(subjects.STREAM, name)
    return messages, leads


# ------------------------------------------------------------------------------------------- profile


PROFILE_RATE = 100
# (label, substrings of a py-spy frame): a sample counts for a stage when any frame of its stack matches.
_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The importer process only: parsing, planning and serialising run in its worker process, which
    # py-spy does not follow (its CPU shows as "rest of the machine").
    ("download from the object store", ("ImportRunner._download",)),
    ("chunks off the worker's queue (thread, unpickling)", ("ChunkWorker.receive",)),
    ("store a batch of chunks (event loop, one transaction)", ("ChunkWriter.store",)),
    ("  COPY + INSERT … SELECT into the leads", ("ChunkWriter._insert_leads",)),
    ("  rejected rows (COPY)", ("ChunkWriter._copy_rejections",)),
    ("  events cut down to the inserted leads", ("ChunkEvent.without",)),
    ("publishing events right after the commit", ("_EagerPublisher._publish",)),
    ("psycopg statement execution (any caller)", ("psycopg/",)),
    ("SQLAlchemy (any caller)", ("sqlalchemy/",)),
    ("outbox relay (publish_pending)", ("publish_pending",)),
    ("rejected-rows report", ("_write_report",)),
)


def summarise_profile(path: Path, top: int = 15) -> list[str]:
    """Where the importer spent its samples: per thread, named stages (inclusive), top functions (own)."""
    stacks: list[tuple[str, list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [f.strip() for f in stack.split(";") if f.strip() and not f.startswith("process ")]
        thread = next((f for f in frames if f.startswith("thread ")), "thread ?")
        code = [f for f in frames if not f.startswith("thread ")]
        if code:
            stacks.append((thread, code, int(count_text)))
    total = sum(count for _, _, count in stacks)
    if total == 0:
        return ["(py-spy recorded no samples)"]
    threads: Counter[str] = Counter()
    kinds: dict[str, str] = {}
    own: Counter[str] = Counter()
    partial = 0
    for thread, code, count in stacks:
        threads[thread] += count
        own[code[-1]] += count
        if code[0].startswith("Thread._bootstrap"):
            kinds[thread] = "worker thread (asyncio.to_thread)"
        elif code[0].startswith("_run_module_as_main"):
            kinds.setdefault(thread, "event loop")
        else:
            partial += count  # --nonblocking sometimes reads a stack mid-change (or a greenlet's own)
    lines = [
        f"py-spy: {total:,} samples of the importer's GIL-holding thread at {PROFILE_RATE} Hz "
        f"({partial / total:.0%} of them partial stacks)",
        "time holding the GIL, per thread:",
    ]
    for thread, count in threads.most_common():
        lines.append(
            f"  {thread:<28} {count / PROFILE_RATE:7.1f} s  {count / total:6.1%}  {kinds.get(thread, '')}"
        )
    lines.append("stages (share of all samples, a sample counts once per stage):")
    for label, needles in _STAGES:
        matches = sum(count for _, code, count in stacks if any(n in f for f in code for n in needles))
        lines.append(f"  {label:<54} {matches / total:6.1%}")
    lines.append(f"top {top} functions by own samples:")
    for frame, count in own.most_common(top):
        lines.append(f"  {count / total:6.1%}  {frame}")
    return lines


# ---------------------------------------------------------------------------------------------- main


def _peak_memory_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise BenchFailure("no VmHWM in the importer's /proc status")


def _verify(generated: GeneratedCsv, baseline: BaselineResult, result: ServiceResult) -> list[str]:
    problems = []
    counts = result.counts
    if sum(counts.values()) != generated.rows:
        problems.append(f"the counts add up to {sum(counts.values()):,}, not {generated.rows:,} rows")
    expected = {**dict.fromkeys(counts, 0), **generated.expected_counts}
    if counts != expected:
        problems.append(f"the breakdown {counts} differs from the generated file's {expected}")
    imported = counts.get("imported", 0)
    if result.leads_in_table != imported:
        problems.append(
            f"importer.leads holds {result.leads_in_table:,} leads of this import, not {imported:,}"
        )
    if result.leads_in_events != imported:
        problems.append(
            f"the stream's LeadImported events carry {result.leads_in_events:,} leads, not {imported:,}"
        )
    if result.import_completed_messages != 1:
        problems.append(f"{result.import_completed_messages} ImportCompleted events in the stream, not 1")
    if baseline.staged != generated.rows:
        problems.append(f"the baseline's COPY staged {baseline.staged:,} rows, not {generated.rows:,}")
    if baseline.inserted != baseline.distinct_keys:
        problems.append(
            f"the baseline inserted {baseline.inserted:,} rows, not the file's "
            f"{baseline.distinct_keys:,} distinct lower-cased addresses"
        )
    return problems


def _cpu_line(cpu: dict[str, float], wall: float) -> str:
    used = ", ".join(f"{name} {seconds:.1f} s ({seconds / wall:.0%})" for name, seconds in cpu.items())
    return f"{used}  [of {wall:.1f} s wall; {psutil.cpu_count()} cores = {psutil.cpu_count()}00%]"


def _print_report(
    generated: GeneratedCsv, baseline: BaselineResult, result: ServiceResult, peak: int
) -> None:
    rows = generated.rows
    baseline_rate = rows / baseline.total_s
    e2e_rate = rows / result.published_s
    ratio = e2e_rate / baseline_rate
    met = "met" if ratio >= TARGET_RATIO else "NOT met"
    memory_met = "met" if peak < TARGET_PEAK_BYTES else "NOT met"
    wall = result.published_s
    print()
    print(
        f"Importer: {rows:,}-row CSV ({generated.size / 1e6:.1f} MB; {generated.duplicates:,} case-variant "
        f"duplicates, {generated.malformed:,} malformed; generated in {generated.seconds:.1f} s)"
    )
    print()
    print(f"{'':<54}{'seconds':>10}{'rows/s':>12}")
    print(f"{'raw baseline: COPY into staging table':<54}{baseline.copy_s:>10.2f}")
    print(f"{'raw baseline: INSERT … SELECT … ON CONFLICT + commit':<54}{baseline.insert_s:>10.2f}")
    print(f"{'raw baseline: total':<54}{baseline.total_s:>10.2f}{baseline_rate:>12,.0f}")
    print(f"{'service: upload to the object store':<54}{result.upload_s:>10.2f}")
    print(f"{'service: StartCsvImport answered':<54}{result.started_s:>10.2f}")
    print(f"{'service: import committed (state completed)':<54}{result.committed_s:>10.2f}")
    print(
        f"{'service: all events published (outbox empty)':<54}{result.published_s:>10.2f}{e2e_rate:>12,.0f}"
    )
    print()
    print(f"e2e / baseline rate:           {ratio:.1%}   (target ≥ {TARGET_RATIO:.0%}: {met})")
    print(
        f"importer peak memory (VmHWM):  {peak / 2**20:.0f} MiB = {peak / 1e6:.0f} MB   "
        f"(target < {TARGET_PEAK_BYTES / 1e6:.0f} MB: {memory_met})"
    )
    breakdown = ", ".join(f"{key} {value:,}" for key, value in result.counts.items())
    print(f"breakdown:                     {breakdown}  (sum {sum(result.counts.values()):,})")
    print(f"baseline rows inserted:        {baseline.inserted:,} (it validates nothing: malformed rows too)")
    print(f"CPU during the baseline:       {_cpu_line(baseline.cpu, baseline.total_s)}")
    print(
        f"events in the stream:          {result.lead_imported_messages:,} LeadImported carrying "
        f"{result.leads_in_events:,} leads, {result.import_completed_messages} ImportCompleted"
    )
    print(f"CPU during the service path:   {_cpu_line(result.cpu, wall)}")
    for phase, cpu, seconds in (
        ("baseline", baseline.cpu, baseline.total_s),
        ("service path", result.cpu, wall),
    ):
        others = cpu.get("rest of the machine", 0.0) / seconds
        if others > NOISY_SHARE:
            print(
                f"WARNING: other processes kept {others:.0%} of a core busy during the {phase}; "
                "its figures are slower than on a quiet machine"
            )
    if result.profile_lines:
        print()
        print("\n".join(result.profile_lines))
    if result.activity:
        print()
        print("\n".join(_activity_lines(result.activity)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep-file", type=Path, help="write the generated CSV here and keep it")
    parser.add_argument("--profile", type=Path, help="py-spy the importer; raw collapsed stacks to this file")
    args = parser.parse_args()
    if args.rows < 2:
        parser.error("--rows must be at least 2")
    tmp = Path(tempfile.mkdtemp(prefix="leadflow-bench-"))
    csv_path = args.keep_file or tmp / "leads.csv"
    nats_server = EmbeddedNats(tmp / "nats", users=bus_grants(), extra_users={TEST_CLIENT: TEST_CLIENT_GRANT})
    postgres = EmbeddedPostgres(tmp / "pg")
    stack: ServiceStack | None = None
    try:
        print(f"generating {args.rows:,} rows …", flush=True)
        generated = generate_csv(csv_path, args.rows)
        print(f"  {generated.size / 1e6:.1f} MB in {generated.seconds:.1f} s", flush=True)
        nats_server.start()
        nats_url = nats_server.url_for(TEST_CLIENT)
        database_url = create_database(postgres.start(), "bench")
        migrations.upgrade(database_url, MIGRATED_SERVICES)
        conninfo = psycopg_conninfo(database_url)
        print("raw baseline: COPY + INSERT … SELECT … ON CONFLICT DO NOTHING …", flush=True)
        postgres_pid = postgres.pid or 0
        bench_pid = psutil.Process().pid
        baseline = run_baseline(
            conninfo, generated, ProcessCpu({"PostgreSQL": postgres_pid, "bench": bench_pid})
        )
        print(f"  {baseline.total_s:.2f} s", flush=True)
        stack = ServiceStack(nats=nats_server, database_url=database_url)
        stack.start("importer")
        importer = stack.services["importer"].process
        assert importer is not None
        pids = {"importer": importer.pid, "PostgreSQL": postgres_pid, "NATS": nats_server.pid or 0}
        print("service path: object store → importer → PostgreSQL → events published …", flush=True)
        with csv_path.open("rb") as upload:
            result = asyncio.run(
                run_service_path(
                    nats_url=nats_url,
                    conninfo=conninfo,
                    upload=upload,
                    generated=generated,
                    importer_alive=lambda: importer.poll() is None,
                    cpu=ProcessCpu({**pids, "bench": bench_pid}),
                    importer_pid=importer.pid,
                    profile=args.profile,
                )
            )
        peak = _peak_memory_bytes(importer.pid)
        if args.profile is not None:
            result.profile_lines = summarise_profile(args.profile)
        _print_report(generated, baseline, result, peak)
        problems = _verify(generated, baseline, result)
        if problems:
            print("\nBROKEN RUN — these figures are not a measurement:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            return 1
        return 0
    except BenchFailure as exc:
        print(f"\nBROKEN RUN: {exc}", file=sys.stderr)
        if stack is not None and "importer" in stack.services:
            print(stack.services["importer"].log_tail(), file=sys.stderr)
        return 1
    finally:
        if stack is not None:
            stack.stop()
            shutil.rmtree(stack.log_dir, ignore_errors=True)
        nats_server.stop()
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
