"""`python -m tests.integration.idle_fetch_probe NATS_URL LEVEL SECONDS`: a FastStream pull subscriber
with a nearly zero fetch timeout on an empty stream, logging as a Leadflow service does (JSON to stderr).

So short a fetch spends its deadline before the server answers, which makes nats-py raise the plain
`TimeoutError` that ends FastStream's fetch loop: the idle case every service meets now and then, here
within a second. It runs in its own process because FastStream reports an exception only the first time
a process meets it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid

from faststream.nats import JStream, NatsBroker, PullSub

from services.runtime.logs import configure_logging


async def idle_subscriber(nats_url: str, seconds: float) -> None:
    name = f"PROBE_{uuid.uuid4().hex[:8]}"
    broker = NatsBroker(nats_url, logger=logging.getLogger("faststream.nats"))

    @broker.subscriber(
        f"{name}.>",
        stream=JStream(name, subjects=[f"{name}.>"]),
        durable="idle",
        pull_sub=PullSub(batch_size=10, timeout=0.001),
    )
    async def on_message(body: str) -> None:
        raise AssertionError("nothing is published to the probe's stream")

    await broker.start()
    try:
        # The race that ends the fetch loop (see above) is lost now and then on a busy machine: wait until the
        # loop has ended or `seconds` have passed, rather than a fixed time that may be too short.
        loops = [
            t for t in asyncio.all_tasks() if "_consume_pull" in getattr(t.get_coro(), "__qualname__", "")
        ]
        if loops:
            await asyncio.wait(loops, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(seconds)
        await asyncio.sleep(0.2)  # for the loop's end to be reported
    finally:
        await broker.stop()


if __name__ == "__main__":
    url, level, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    configure_logging(level, json=True)
    asyncio.run(idle_subscriber(url, seconds))
