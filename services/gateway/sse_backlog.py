"""What an open SSE stream has heard and not sent yet: bounded, so a slow client never holds up whoever feeds
it (the leads table's NOTIFY listener, the Unibox's NATS subscription). When the bound is hit the oldest are
dropped and the client is told to `resync` (reload what it shows)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

# Changes a stream may have waiting; beyond that the oldest are dropped and it is told to `resync`.
BACKLOG = 256
# A client that takes no data for this long is disconnected (it reconnects and resyncs).
SEND_TIMEOUT_SECONDS = 30.0


class Backlog:
    def __init__(self, backlog: int = BACKLOG) -> None:
        self._pending: deque[dict[str, Any]] = deque(maxlen=backlog)
        self._lost = False
        self._wake = asyncio.Event()

    def offer(self, change: dict[str, Any]) -> None:
        if len(self._pending) == self._pending.maxlen:
            self._lost = True  # the deque drops the oldest change as this one goes in
        self._pending.append(change)
        self._wake.set()

    def lost_changes(self) -> None:
        """Changes may have gone unheard (the feed reconnected): the client must reload."""
        self._lost = True
        self._pending.clear()
        self._wake.set()

    async def next_changes(self) -> tuple[bool, list[dict[str, Any]]]:
        """Waits for changes; returns whether some were lost (send `resync` first) and those waiting."""
        await self._wake.wait()
        self._wake.clear()
        lost, self._lost = self._lost, False
        changes = list(self._pending)
        self._pending.clear()
        return lost, changes
