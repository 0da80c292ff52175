"""The garbage collector's schedule for every Leadflow process.

A service works in batches of thousands of rows and events: each makes tens of thousands of short-lived,
mostly acyclic objects (rows, strings, tuples, dicts). With CPython's default thresholds (a young
collection every 700 allocations, an older one every 10 of those) a batch of 2,000 due steps ran some 40
young and several older collections, and a full one every few batches walked the whole heap — every
module, class and function the process imported. py-spy and `gc.callbacks` put that at a fifth to a
third of the sequencer's emission time (`docs/benchmarks.md`).

So, once a process has imported and built what it runs on: what exists then is moved out of the
collector's sight for good (`gc.freeze()`: it is never garbage), and young collections run every 50,000
allocations instead. Cycles are still collected, only less often; memory held by them waits a little
longer. The importer's parse workers have done this since the import benchmarks.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # allocations between young collections (CPython's default: 700)
MIDDLE = 50  # young collections between middle ones (default 10)
OLD = 1_000  # middle collections between full ones (default 10; CPython also waits for 25% growth)


def tune_gc() -> None:
    """Freeze what exists now and collect rarely (see the module's text)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
