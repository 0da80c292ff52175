"""The one LISTEN/NOTIFY loop: a dedicated connection that hears channels and wakes its owner.

NOTIFY has no history: what is sent while the connection is down is gone. So an owner either treats a
notification as a hint and also looks on a timer (the outbox relay), or is told when it reconnected and
makes its readers reload (the gateway's live lead changes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn

import psycopg
from psycopg import Notify

from .backoff import RECONNECT, Backoff, run_forever


class Listener:
    """LISTENs on `channels` over one autocommit connection, reconnecting with `backoff`.

    `on_notify` gets every notification as it arrives (it must not block). `on_wake` runs once connected,
    after each batch of notifications and after `every` seconds without any, the timer fallback; a
    silent connection is also checked then, so one that died without a word is noticed. `on_connect`
    hears `True` when the connection is up again after a loss, `on_lost` that it went away. An error in
    `on_wake` counts as a lost connection: reconnected and retried after the backoff's pause.
    """

    def __init__(
        self,
        conninfo: str,
        channels: Sequence[str],
        *,
        every: float,
        what: str,
        on_notify: Callable[[Notify], None] | None = None,
        on_wake: Callable[[], Awaitable[object]] | None = None,
        on_connect: Callable[[bool], None] | None = None,
        on_lost: Callable[[], None] | None = None,
        backoff: Backoff = RECONNECT,
    ) -> None:
        self._conninfo = conninfo
        self._channels = tuple(channels)
        self._every = every
        self._what = what
        self._on_notify = on_notify
        self._on_wake = on_wake
        self._on_connect = on_connect
        self._on_lost = on_lost
        self._backoff = backoff
        self._connected_before = False
        # The server process of the current connection, None while there is none.
        self.backend_pid: int | None = None

    async def run(self) -> NoReturn:
        """Listen forever; cancel the task to stop."""
        await run_forever(self._session, what=self._what, backoff=self._backoff, on_failure=self._lost)

    def _lost(self, _: Exception) -> None:
        self.backend_pid = None
        if self._on_lost is not None:
            self._on_lost()

    async def _session(self, established: Callable[[], None]) -> NoReturn:
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            for channel in self._channels:
                await conn.execute(f'LISTEN "{channel}"')
            self.backend_pid = conn.info.backend_pid
            established()
            if self._on_connect is not None:
                self._on_connect(self._connected_before)
            self._connected_before = True
            while True:
                if self._on_wake is not None:
                    await self._on_wake()
                heard = False
                async for notify in conn.notifies(timeout=self._every, stop_after=1):
                    heard = True
                    if self._on_notify is not None:
                        self._on_notify(notify)
                if not heard:
                    await conn.execute("SELECT 1")  # a dead connection raises here, not in silence
