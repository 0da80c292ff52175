"""How fast the inbox classifies: 10,000 mixed inbound messages on one core.

The messages are the classifier's own corpus (`tests/corpus/inbox/`: bounces and delays of many MTAs,
auto-replies in three languages, people's replies, challenges), cycled to `--messages`, each copy given a
Message-ID of its own so that no two inputs are the same bytes. The clock covers `classify(raw)` of every
message in one process (one core), after one untimed pass over the corpus (imports, compiled patterns).
It prints messages/s against the target (≥ 2,000/s), the mix of kinds, and the slowest message.

    .venv/bin/python bench/inbox.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.inbox.classify import classify
from services.runtime.gc_tuning import tune_gc

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "inbox"
TARGET = 2_000


def messages(count: int) -> list[bytes]:
    corpus = [path.read_bytes() for path in sorted(CORPUS.glob("*/*.eml"))]
    if not corpus:
        raise SystemExit(f"no messages under {CORPUS}")
    out = []
    for n in range(count):
        raw = corpus[n % len(corpus)]
        out.append(f"X-Bench-Copy: {n}\r\n".encode() + raw)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    batch = messages(args.messages)
    for raw in batch[: min(len(batch), 500)]:
        classify(raw)
    tune_gc()
    kinds: Counter[str] = Counter()
    slowest = (0.0, 0)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for n, raw in enumerate(batch):
        started = time.perf_counter()
        kinds[classify(raw).kind] += 1
        took = time.perf_counter() - started
        if took > slowest[0]:
            slowest = (took, n)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rate = len(batch) / seconds
    print(f"classified {len(batch):,} messages in {seconds:.2f} s: {rate:,.0f} messages/s on one core")
    print(
        f"  CPU {cpu / len(batch) * 1e6:.0f} µs per message; target ≥ {TARGET:,}/s: {'met' if rate >= TARGET else 'NOT met'}"
    )
    print(f"  kinds: {dict(sorted(kinds.items()))}")
    print(f"  slowest: {slowest[0] * 1e3:.1f} ms ({len(batch[slowest[1]]):,} bytes)")


if __name__ == "__main__":
    main()
