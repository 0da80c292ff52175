"""The validator on 20,000 addresses over 500 domains, against local MX servers that are 50 ms slow.

Generates a seeded list (the addresses spread evenly over the domains, ≈85% of them existing mailboxes,
the rest unknown users; no domain is catch-all), then starts two peer processes, so that the verifier
keeps its own core and the two servers do not share a GIL:

* a dnslib DNS server (`tests/peers/fakedns.start`, TTL 0, answering from an indexed copy of the zone and
  with a 4 MiB receive buffer) giving every domain one MX host, the MX hosts spread round-robin over
  `--mx-hosts` loopback IPs (127.0.1.1 … 127.0.1.250, 127.0.2.1 …);
* ONE aiosmtpd server (`tests/peers/fakemx.FakeMx`, one thread) bound to 0.0.0.0, so it answers on every
  one of those IPs, delaying every reply by `--latency-ms`, answering `250 2.1.5` for an existing mailbox
  and `550 5.1.1 User unknown` otherwise, and counting concurrent connections per destination IP (the
  local address of each accepted socket).

The real `Verifier` (`MxResolver` + `SmtpProber` with `--per-mx-limit` and `--concurrency` as its global
limit, no greylisting retries) then checks every address in ONE `verify_many` call — as `leadflow
validate` does; the validator service's batches of 1,000 would open a session per domain per batch. The
clock covers that call alone: DNS lookups, SMTP sessions and verdicts.

It prints the rate, the verdict counts, the peak concurrent connections per MX IP and in all, the CPU
time of the verifier and the peers (and of the rest of the machine), when the syntax checks and the DNS
lookups were done, how long the SMTP sessions took and how busy the session slots were (timed by
wrapping the verifier's methods, which changes nothing they do), and the IDEAL rate for that latency and those
limits, derived from what `SmtpProber` sends. One session for a domain with n addresses waits for these
replies, one after the other (the prober sends the next command only when the previous reply is in):

    banner, EHLO, MAIL FROM, the catch-all RCPT, n RCPTs, RSET + MAIL FROM before every 50th RCPT after
    the first 50 (RSET_EVERY = 50, the catch-all RCPT included), QUIT (the slot is held until the 221)

so it lasts r(n)·L with r(n) = 5 + n + 2·floor(n / 50) and L the per-reply latency (the TCP handshake and
the DNS lookups are left out: they are local here, and the ideal is about the SMTP latency). With P = min(global limit, MX IPs x per-MX limit)
sessions at once and D domains each holding n addresses (D_ip of them on the busiest MX IP), the run
cannot take less than

    waves x r(n)·L, waves = max(ceil(D / P), ceil(D_ip / per-MX limit))

so ideal = addresses / (waves x r(n)·L). (When the addresses do not divide evenly over the domains the
bound is max(Σ r(n_d)·L / P, the busiest IP's Σ r(n_d)·L / per-MX limit, the longest session) instead.)
The defaults — 40 addresses a domain, 100 MX IPs, P = 100 — give 45 round trips, 5 waves of 2.25 s:
1,778 addresses/s.

It exits 1 when a verdict differs from the generated truth, or when more connections were ever open to
one MX IP than `--per-mx-limit` (or to all of them than `--concurrency`): such a run is no measurement.

    .venv/bin/python bench/validate.py [--addresses 20000] [--domains 500] [--mx-hosts 100]
        [--latency-ms 50] [--per-mx-limit 2] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiosmtplib
import psutil
from dnslib import QTYPE, RCODE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts import Verdict
from services.validator.dns import MxLookup, MxResolver
from services.validator.smtp import RSET_EVERY, SmtpProber
from services.validator.verdicts import Reason, Result
from services.validator.verifier import Verifier
from tests.peers import fakedns
from tests.peers.fakemx import FakeMx, MxBehaviour, free_port

SEED = 20261126
EXISTING_SHARE = 0.85
TARGET_RATE = 1_000.0
HELO = "probe.leadflow.bench"
SENDER = "bounce@leadflow.bench"
# Other processes using more than this share of one core make a run's figures suspect (it says so).
NOISY_SHARE = 0.10
DNS_RECEIVE_BUFFER = 4 * 2**20

_FIRST = (
    "jan", "petr", "jiri", "pavel", "tomas", "martin", "jaroslav", "miroslav", "zdenek", "vaclav",
    "michal", "lukas", "ondrej", "jakub", "marie", "jana", "eva", "hana", "lenka", "katerina", "lucie",
    "petra", "tereza", "zuzana", "john", "sarah", "emma", "thomas", "laura", "anna",
)  # fmt: skip
_LAST = (
    "novak", "svoboda", "novotny", "dvorak", "cerny", "prochazka", "kucera", "vesely", "horak", "nemec",
    "pokorny", "marek", "pospisil", "hajek", "jelinek", "kral", "ruzicka", "benes", "fiala", "zeman",
    "smith", "muller", "schmidt", "weber", "brown", "fischer", "wagner", "kolar", "urban", "blazek",
)  # fmt: skip


class BenchFailure(Exception):
    """The run is broken: its figures must not be reported as a measurement."""


# ------------------------------------------------------------------------------------ the generated list


@dataclass(frozen=True)
class Workload:
    addresses: list[str]  # in the (shuffled) order handed to verify_many
    existing: set[str]  # the mailboxes the MX server knows
    domains: list[str]
    mx_ip: dict[str, str]  # domain -> the IP of its MX host
    zone: str

    def per_domain(self) -> Counter[str]:
        return Counter(a.rpartition("@")[2] for a in self.addresses)


def mx_ip(index: int) -> str:
    """127.0.1.1 … 127.0.1.250, 127.0.2.1 …: loopback, away from the 127.0.0.x other tests use."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def generate(addresses: int, domains: int, mx_hosts: int, seed: int = SEED) -> Workload:
    rng = random.Random(seed)
    names = [f"firma{i:04d}.bench.test" for i in range(domains)]
    zone_lines = []
    ips: dict[str, str] = {}
    for j in range(min(mx_hosts, domains)):
        zone_lines.append(f"mx{j:04d}.mail.bench.test. 0 IN A {mx_ip(j)}")
    for i, domain in enumerate(names):
        j = i % mx_hosts
        ips[domain] = mx_ip(j)
        zone_lines.append(f"{domain}. 0 IN MX 10 mx{j:04d}.mail.bench.test.")
    result: list[str] = []
    existing: set[str] = set()
    for k in range(addresses):
        domain = names[k % domains]  # evenly: every domain gets addresses // domains, or one more
        local = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{k}"
        address = f"{local}@{domain}"
        result.append(address)
        if rng.random() < EXISTING_SHARE:
            existing.add(address)
    rng.shuffle(result)
    return Workload(result, existing, names, ips, "\n".join(zone_lines) + "\n")


# ----------------------------------------------------------------------------------------- the ideal


def round_trips(n: int) -> int:
    """Replies one session waits for: banner, EHLO, MAIL, catch-all RCPT, n RCPTs, RSET+MAIL, QUIT."""
    return 5 + n + 2 * (n // RSET_EVERY)


@dataclass(frozen=True)
class Ideal:
    seconds: float
    rate: float
    parallel: int
    how: str


def ideal(workload: Workload, latency: float, per_mx_limit: int, global_limit: int) -> Ideal:
    counts = workload.per_domain()
    by_ip: Counter[str] = Counter(workload.mx_ip[d] for d in counts)
    parallel = min(global_limit, len(by_ip) * per_mx_limit)
    sizes = set(counts.values())
    if len(sizes) == 1:
        n = sizes.pop()
        waves = max(math.ceil(len(counts) / parallel), math.ceil(max(by_ip.values()) / per_mx_limit))
        seconds = waves * round_trips(n) * latency
        how = f"{waves} waves x {round_trips(n)} round trips x {latency * 1000:.0f} ms"
    else:
        session = {d: round_trips(n) * latency for d, n in counts.items()}
        ip_time: dict[str, float] = {}
        for d, s in session.items():
            ip_time[workload.mx_ip[d]] = ip_time.get(workload.mx_ip[d], 0.0) + s
        seconds = max(
            sum(session.values()) / parallel,
            max(ip_time.values()) / per_mx_limit,
            max(session.values()),
        )
        how = "lower bound over uneven sessions"
    return Ideal(seconds, len(workload.addresses) / seconds, parallel, how)


# ---------------------------------------------------------------------------------- the peer process


class IndexedZone(fakedns.FakeZone):
    """FakeZone's answers (NXDOMAIN for an absent name, NODATA for a missing type), from a dict.

    FakeZone compares the query with every record of the zone, ~0.4 ms a query for this 600-record zone;
    with ~1,000 queries arriving at once while the MX server holds the GIL, answers took longer than
    c-ares' adaptive timeout (5x the average latency seen so far, at least 250 ms), and lookups failed.
    """

    def __init__(self, zone_text: str) -> None:
        super().__init__(zone_text)
        self.by_name: dict[str, list[Any]] = {}
        for rr in self.rrs:
            self.by_name.setdefault(str(rr.rname).rstrip(".").lower(), []).append(rr)

    def resolve(self, request: Any, handler: Any) -> Any:
        qtype = request.q.qtype
        name = str(request.q.qname).rstrip(".").lower()
        with self._lock:
            self.queries.append((name, str(QTYPE.get(qtype))))
        reply = request.reply()
        records = self.by_name.get(name)
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rr in records:
            if rr.rtype == qtype or qtype == QTYPE.ANY:
                reply.add_answer(rr)
        return reply


@dataclass(frozen=True)
class PeerStats:
    peak_by_ip: dict[str, int]
    connections_by_ip: dict[str, int]
    peak: int
    connections: int
    rcpts: int


def serve_dns(conn: Connection, zone: str) -> None:
    """The DNS peer process, alone so that the busy MX server's thread does not hold up its answers."""
    dns, dns_port = fakedns.start(zone)
    dns.server.resolver = IndexedZone(zone)  # the same answers, without a scan of the zone per query
    # All the domains are looked up at once, ~1,000 queries in a burst. The default UDP receive buffer
    # (~200 KB) held them in the runs measured (no RcvbufErrors), but a dropped query would cost the
    # resolver a timeout, so make room for more (the kernel caps it at net.core.rmem_max).
    dns.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, DNS_RECEIVE_BUFFER)
    try:
        conn.send(dns_port)
        conn.recv()  # "stop"
        conn.send(len(fakedns.zone_of(dns).queries))
    finally:
        fakedns.stop(dns)


def serve_mx(conn: Connection, existing: set[str], latency: float) -> None:
    """The MX peer process: one FakeMx on 0.0.0.0 until told to stop; then its counters."""
    port = free_port()
    mx = FakeMx(MxBehaviour(mailboxes=existing, delay=latency), port, ident="mx.bench.test")
    try:
        mx.start("0.0.0.0")
        conn.send(port)
        conn.recv()  # "stop"
        conn.send(
            PeerStats(
                peak_by_ip=mx.peak_by_ip,
                connections_by_ip=mx.connections_by_ip,
                peak=mx.peak,
                connections=mx.connections,
                rcpts=len(mx.rcpts()),
            )
        )
    finally:
        mx.stop()


# ---------------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class RunResult:
    results: list[Result]
    elapsed: float
    client_cpu: float
    peers_cpu: float  # CPU seconds of the peer processes (DNS + MX) during the run
    machine_busy: float  # CPU seconds of all processes on the machine during the run
    dns_done: float  # seconds from the start until the last MX lookup was answered
    sessions: list[tuple[float, float]]  # (start, end) of each SMTP conversation, from the start
    syntax_done: float  # seconds from the start until every address's syntax was checked


async def run_verifier(
    addresses: Sequence[str],
    *,
    peer_pids: Sequence[int],
    nameserver: str,
    port: int,
    per_mx_limit: int,
    concurrency: int,
    smtp_timeout: float,
) -> RunResult:
    verifier = Verifier(
        MxResolver([nameserver]),
        SmtpProber(
            port=port,
            helo=HELO,
            sender=SENDER,
            timeout=smtp_timeout,
            per_mx_limit=per_mx_limit,
            global_limit=concurrency,
        ),
        greylist_retries=(),
        allow_test_domains=True,
    )
    resolver = verifier.resolver
    lookup = resolver.lookup
    last_lookup = 0.0

    async def timed_lookup(domain: str, *, fresh: bool = False) -> MxLookup:
        nonlocal last_lookup
        answer = await lookup(domain, fresh=fresh)
        last_lookup = time.perf_counter()
        return answer

    resolver.lookup = timed_lookup  # type: ignore[method-assign]  # only to time the DNS phase
    check_syntax = verifier._check_syntax
    last_syntax = 0.0

    def timed_check_syntax(index: int, raw: str) -> Any:
        nonlocal last_syntax
        checked = check_syntax(index, raw)
        last_syntax = time.perf_counter()
        return checked

    verifier._check_syntax = timed_check_syntax  # type: ignore[method-assign]  # only to time it
    prober = verifier.prober
    converse = prober._converse
    sessions: list[tuple[float, float]] = []

    async def timed_converse(client: aiosmtplib.SMTP, domain: str, work: Any) -> Any:
        begun = time.perf_counter()
        try:
            return await converse(client, domain, work)
        finally:
            sessions.append((begun - started, time.perf_counter() - started))

    # Only to time each conversation (connect to QUIT, per-MX and global slots held): same behaviour.
    prober._converse = timed_converse  # type: ignore[method-assign]
    started = 0.0
    peers = [psutil.Process(pid) for pid in peer_pids]
    before_peers = sum(_cpu_seconds(peer) for peer in peers)
    before_machine = _busy_seconds()
    before_cpu = time.process_time()
    started = time.perf_counter()
    results = await verifier.verify_many(addresses)
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - before_cpu
    machine = _busy_seconds() - before_machine
    peers_cpu = sum(_cpu_seconds(peer) for peer in peers) - before_peers
    await resolver.close()
    return RunResult(
        results,
        elapsed,
        client_cpu,
        peers_cpu,
        machine,
        last_lookup - started,
        sessions,
        last_syntax - started,
    )


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def check(workload: Workload, run: RunResult) -> list[str]:
    problems = []
    wrong = 0
    example = ""
    for address, result in zip(workload.addresses, run.results, strict=True):
        if address in workload.existing:
            expected = (Verdict.VALID, Reason.ACCEPTED)
        else:
            expected = (Verdict.INVALID, Reason.MAILBOX_NOT_FOUND)
        if (result.verdict, result.reason) != expected or result.email != address:
            wrong += 1
            example = example or f"{address}: {result.verdict}/{result.reason}, expected {expected}"
    if wrong:
        problems.append(f"{wrong:,} verdicts differ from the generated truth, e.g. {example}")
    return problems


def report(
    args: argparse.Namespace,
    workload: Workload,
    run: RunResult,
    peers: PeerStats,
    best: Ideal,
    dns_queries: int,
) -> list[str]:
    problems = check(workload, run)
    rate = len(workload.addresses) / run.elapsed
    verdicts = Counter(r.verdict.value for r in run.results)
    reasons = Counter(r.reason.value for r in run.results)
    ips_used = len(set(workload.mx_ip[d] for d in workload.per_domain()))
    peak_mx = max(peers.peak_by_ip.values(), default=0)
    busiest = [ip for ip, n in peers.peak_by_ip.items() if n == peak_mx]
    sessions = sum(peers.connections_by_ip.values())
    rest = max(0.0, run.machine_busy - run.client_cpu - run.peers_cpu)
    if peak_mx > args.per_mx_limit:
        problems.append(
            f"{peak_mx} connections were open at once to {busiest[0]}: above the per-MX limit "
            f"{args.per_mx_limit}"
        )
    if peers.peak > args.concurrency:
        problems.append(
            f"{peers.peak} connections were open at once: above the global limit {args.concurrency}"
        )
    if sessions != len(workload.domains):
        problems.append(
            f"{sessions:,} SMTP sessions for {len(workload.domains):,} domains (expected one each)"
        )
    expected_rcpts = len(workload.addresses) + len(workload.domains)
    if peers.rcpts != expected_rcpts:
        problems.append(f"the MX server saw {peers.rcpts:,} RCPTs, not {expected_rcpts:,}")
    load = os.getloadavg()
    met = "met" if rate >= TARGET_RATE else "NOT met"
    print()
    print(
        f"Validator: {len(workload.addresses):,} addresses over {len(workload.domains):,} domains "
        f"({min(workload.per_domain().values())}-{max(workload.per_domain().values())} a domain), "
        f"{ips_used} MX IPs, every SMTP reply delayed {args.latency_ms:g} ms, "
        f"per-MX limit {args.per_mx_limit}, global limit {args.concurrency}"
    )
    print()
    print(f"elapsed (one verify_many call):  {run.elapsed:.2f} s")
    print(f"rate:                            {rate:,.0f} addresses/s   (target ≥ {TARGET_RATE:,.0f}: {met})")
    print(
        f"ideal:                           {best.rate:,.0f} addresses/s = {best.seconds:.2f} s "
        f"({best.how}; {best.parallel} sessions at once)"
    )
    print(
        f"syntax checks:                   every address checked {run.syntax_done:.2f} s after the start "
        "(verify_many checks them all before the first lookup)"
    )
    print(
        f"DNS phase:                       last MX lookup answered {run.dns_done:.2f} s after the start "
        f"({dns_queries:,} queries reached the DNS server)"
    )
    durations = sorted(end - begin for begin, end in run.sessions)
    if durations:
        session_ideal = round_trips(max(workload.per_domain().values())) * args.latency_ms / 1000
        mean = sum(durations) / len(durations)
        busy = sum(durations) / (run.elapsed * best.parallel)
        print(
            f"SMTP sessions:                   mean {mean:.2f} s (ideal {session_ideal:.2f} s: "
            f"{session_ideal / mean:.0%}), median {durations[len(durations) // 2]:.2f} s, "
            f"max {durations[-1]:.2f} s; the first began {min(b for b, _ in run.sessions):.2f} s in, "
            f"the last {max(b for b, _ in run.sessions):.2f} s"
        )
        print(f"session slots in use:            {busy:.0%} of {best.parallel} x {run.elapsed:.2f} s")
    print(f"actual / ideal:                  {rate / best.rate:.1%}")
    print(
        f"peak connections per MX IP:      {peak_mx} (limit {args.per_mx_limit}; reached on "
        f"{len(busiest)} of {len(peers.peak_by_ip)} IPs)"
    )
    print(f"peak connections in all:         {peers.peak} (limit {args.concurrency})")
    print(f"SMTP sessions / RCPTs seen:      {sessions:,} / {peers.rcpts:,}")
    print(f"verdicts:                        {', '.join(f'{k} {v:,}' for k, v in sorted(verdicts.items()))}")
    print(f"reasons:                         {', '.join(f'{k} {v:,}' for k, v in sorted(reasons.items()))}")
    print(
        f"truth:                           valid {len(workload.existing):,}, invalid "
        f"{len(workload.addresses) - len(workload.existing):,} (no catch-all domain)"
    )
    print(
        f"CPU during the run:              verifier {run.client_cpu:.1f} s "
        f"({run.client_cpu / run.elapsed:.0%}), peers (DNS + MX) {run.peers_cpu:.1f} s "
        f"({run.peers_cpu / run.elapsed:.0%}), "
        f"rest of the machine ≈{rest:.1f} s ({rest / run.elapsed:.0%})  "
        f"[of {run.elapsed:.1f} s wall; {psutil.cpu_count()} cores]"
    )
    print(f"load average after the run:      {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if rest / run.elapsed > NOISY_SHARE:
        print(
            f"WARNING: other processes kept ≈{rest / run.elapsed:.0%} of a core busy; "
            "the figures are slower than on a quiet machine"
        )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--addresses", type=int, default=20_000)
    parser.add_argument("--domains", type=int, default=500)
    parser.add_argument("--mx-hosts", type=int, default=100, help="distinct MX IPs the domains share")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="delay before every SMTP reply")
    parser.add_argument("--per-mx-limit", type=int, default=2)
    parser.add_argument(
        "--concurrency", type=int, default=100, help="global session limit (LEADFLOW_VALIDATOR_CONCURRENCY)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="SMTP timeout (the service's default)")
    args = parser.parse_args()
    if args.domains < 1 or args.addresses < args.domains:
        parser.error("need at least one domain and one address per domain")
    if not 1 <= args.mx_hosts <= 250 * 254:
        parser.error("--mx-hosts must be between 1 and 63,500")
    if args.per_mx_limit < 1 or args.concurrency < 1:
        parser.error("limits must be at least 1")
    if args.latency_ms <= 0:
        parser.error("--latency-ms must be positive (the ideal rate is inversely proportional to it)")

    workload = generate(args.addresses, args.domains, args.mx_hosts)
    latency = args.latency_ms / 1000
    best = ideal(workload, latency, args.per_mx_limit, args.concurrency)
    context = multiprocessing.get_context("spawn")
    dns_pipe, dns_end = context.Pipe()
    mx_pipe, mx_end = context.Pipe()
    processes = [
        context.Process(target=serve_dns, args=(dns_end, workload.zone), daemon=True),
        context.Process(target=serve_mx, args=(mx_end, workload.existing, latency), daemon=True),
    ]
    for process in processes:
        process.start()
    try:
        if not dns_pipe.poll(30) or not mx_pipe.poll(30):
            raise BenchFailure("the peer processes did not start their DNS and MX servers in 30 s")
        dns_port: int = dns_pipe.recv()
        smtp_port: int = mx_pipe.recv()
        print(
            f"peers up: DNS 127.0.0.1:{dns_port}, MX 0.0.0.0:{smtp_port}; verifying "
            f"{len(workload.addresses):,} addresses …",
            flush=True,
        )
        run = asyncio.run(
            run_verifier(
                workload.addresses,
                peer_pids=[process.pid or 0 for process in processes],
                nameserver=f"127.0.0.1:{dns_port}",
                port=smtp_port,
                per_mx_limit=args.per_mx_limit,
                concurrency=args.concurrency,
                smtp_timeout=args.timeout,
            )
        )
        dns_pipe.send("stop")
        mx_pipe.send("stop")
        if not dns_pipe.poll(30) or not mx_pipe.poll(30):
            raise BenchFailure("the peer processes did not report their counters")
        dns_queries: int = dns_pipe.recv()
        peers: PeerStats = mx_pipe.recv()
        problems = report(args, workload, run, peers, best, dns_queries)
        if problems:
            print("\nBROKEN RUN — these figures are not a measurement:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            return 1
        return 0
    except BenchFailure as exc:
        print(f"\nBROKEN RUN: {exc}", file=sys.stderr)
        return 1
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)


if __name__ == "__main__":
    sys.exit(main())
