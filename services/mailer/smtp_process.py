"""The mailer's SMTP conversations in a process of their own.

The mailer's event loop spends milliseconds at a time on a batch's SQL, its events and its messages; a
conversation on that loop waits for it at each of its four round trips (MAIL, RCPT, DATA and the reply),
and the mail server waits with it. Here the conversations run on a loop that does nothing else, in a child
process (a thread would still wait for the interpreter lock): the service hands it a mailbox's built
messages, and it answers each outcome as its conversation ends.

The child holds an `SmtpPool` (one connection per mailbox, kept open). Requests and answers are pickled
frames over its stdin and stdout (both ends are this code base). The child ends when its stdin closes:
when the service closes it, or when the service died — then what the child was still delivering is cut,
and those sends' leases lapse into `uncertain` as they would have in one process.

If the child dies under a batch, the message of each batch whose answer had not come may have been in
DATA: `Unknown` (uncertain, never sent again automatically); the ones after it in the same batch were not
begun: `TryLater`. The next delivery starts a new child.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import signal
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog

from services.mailer.smtp_pool import (
    DEFAULT_TIMEOUT_SECONDS,
    IDLE_SECONDS,
    Endpoint,
    Outcome,
    SmtpPool,
    TryLater,
    Unknown,
)
from services.runtime.tls import mail_tls_context

log = structlog.get_logger(__name__)

_LENGTH = struct.Struct(">I")
# A frame holds a mailbox's share of a batch: a few hundred built messages at most.
_READ_LIMIT = 1 << 26
_CLOSE_WAIT_SECONDS = 10.0

Delivery = tuple[str, bytes]
"""A recipient and the message built for it."""

Done = tuple[Outcome, datetime]
"""What came of a delivery, and when its conversation ended."""


def _frame(value: Any) -> bytes:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


async def _read(reader: asyncio.StreamReader) -> Any:
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))


@dataclass
class _Batch:
    count: int
    answers: dict[int, Done] = field(default_factory=dict)
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class _Child:
    process: asyncio.subprocess.Process
    reader: asyncio.Task[None]


class SmtpProcess:
    """The service's side: `deliver` and `close_idle` as `SmtpPool` has them, answered by the child.

    `ca_file` is `LEADFLOW_MAIL_CA_FILE` (the child builds its TLS trust from it: an `SSLContext` does not
    cross processes)."""

    def __init__(
        self,
        *,
        ca_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.ca_file = ca_file
        self.timeout = timeout
        self.idle_seconds = idle_seconds
        self._child: _Child | None = None
        self._starting = asyncio.Lock()
        self._ids = itertools.count()
        self._batches: dict[int, _Batch] = {}
        self._replies: dict[int, asyncio.Future[Any]] = {}

    async def deliver_batch(
        self, mailbox_id: UUID, endpoint: Endpoint, sender: str, deliveries: Sequence[Delivery]
    ) -> list[Done]:
        """A mailbox's messages, in order, over its connection; the outcome of each."""
        if not deliveries:
            return []
        child = await self._running()
        request = next(self._ids)
        batch = self._batches[request] = _Batch(len(deliveries))
        try:
            try:
                self._send(child, ("deliver", request, mailbox_id, endpoint, sender, list(deliveries)))
            except ConnectionError as exc:  # nothing was begun
                now = datetime.now(UTC)
                return [(TryLater(None, str(exc)), now) for _ in deliveries]
            await batch.done
        finally:
            del self._batches[request]
        return [batch.answers[i] for i in range(batch.count)]

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        if self._child is None or self._child.reader.done():
            return None
        return self._child.process.pid

    async def close_idle(self) -> int:
        """Close the connections unused for `idle_seconds` (none when the child is not running)."""
        if self._child is None or self._child.reader.done():
            return 0
        closed: int = await self._ask("close_idle")
        return closed

    async def close(self) -> None:
        """Close the child's connections not in use, then the child."""
        child, self._child = self._child, None
        if child is None:
            return
        if child.process.returncode is None:
            with contextlib.suppress(Exception):
                self._send(child, ("close", next(self._ids)))
            if child.process.stdin is not None:
                child.process.stdin.close()
            try:
                await asyncio.wait_for(child.process.wait(), _CLOSE_WAIT_SECONDS)
            except TimeoutError:
                child.process.kill()
                await child.process.wait()
        child.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await child.reader

    async def _ask(self, verb: str) -> Any:
        child = await self._running()
        request = next(self._ids)
        reply = self._replies[request] = asyncio.get_running_loop().create_future()
        try:
            self._send(child, (verb, request))
            return await reply
        finally:
            del self._replies[request]

    def _send(self, child: _Child, request: tuple[Any, ...]) -> None:
        stdin = child.process.stdin
        if stdin is None or stdin.is_closing():
            raise ConnectionError("the SMTP process is not running")
        stdin.write(_frame(request))

    async def _running(self) -> _Child:
        async with self._starting:
            if self._child is not None and not self._child.reader.done():
                return self._child
            arguments = [str(self.timeout), str(self.idle_seconds)]
            if self.ca_file is not None:
                arguments.append(str(self.ca_file))
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                *arguments,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=_READ_LIMIT,
                # Out of the service's process group: a Ctrl-C in a terminal stops the service, which
                # closes the child, rather than cutting the child's conversations under it.
                start_new_session=True,
            )
            self._child = _Child(process, asyncio.create_task(self._answers(process)))
            return self._child

    async def _answers(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while True:
                answer = await _read(process.stdout)
                if answer[0] == "delivered":
                    _, request, index, outcome, at = answer
                    batch = self._batches.get(request)
                    if batch is None:
                        continue
                    batch.answers[index] = (outcome, datetime.fromtimestamp(at, UTC))
                    if len(batch.answers) == batch.count and not batch.done.done():
                        batch.done.set_result(None)
                else:
                    _, request, value = answer
                    reply = self._replies.get(request)
                    if reply is not None and not reply.done():
                        reply.set_result(value)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._orphaned()

    def _orphaned(self) -> None:
        """The child is gone: settle what it left unanswered (see the module)."""
        now = datetime.now(UTC)
        if self._batches:
            log.error("the SMTP process stopped under deliveries", batches=len(self._batches))
        for batch in self._batches.values():
            cut = False
            for index in range(batch.count):
                if index in batch.answers:
                    continue
                if not cut:
                    batch.answers[index] = (Unknown("the SMTP process stopped during this delivery"), now)
                    cut = True
                else:
                    batch.answers[index] = (
                        TryLater(None, "the SMTP process stopped before this delivery"),
                        now,
                    )
            if not batch.done.done():
                batch.done.set_result(None)
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(ConnectionError("the SMTP process stopped"))


async def _serve(pool: SmtpPool) -> None:
    """The child: requests from stdin, answers to the protocol's stdout, until stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_READ_LIMIT, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", 0))
    # The protocol gets its own copy of stdout; fd 1 then points at stderr, so that nothing printed by a
    # library can corrupt a frame.
    out = os.fdopen(os.dup(1), "wb", 0)
    os.dup2(2, 1)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    tasks: set[asyncio.Task[None]] = set()

    async def deliver(request: int, mailbox: UUID, endpoint: Endpoint, sender: str, items: Any) -> None:
        for index, (recipient, message) in enumerate(items):
            outcome: Outcome
            try:
                outcome = await pool.deliver(mailbox, endpoint, sender, recipient, message)
            except Exception as exc:  # a fault of ours: whether the server took it is not known
                log.exception("a delivery failed in the SMTP process")
                outcome = Unknown(f"the delivery failed in the SMTP process: {exc!r}")
            writer.write(_frame(("delivered", request, index, outcome, datetime.now(UTC).timestamp())))

    async def answer(request: int, value: Any) -> None:
        writer.write(_frame(("answer", request, value)))

    try:
        while True:
            try:
                verb, request, *rest = await _read(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if verb == "deliver":
                work = deliver(request, *rest)
            elif verb == "close_idle":
                work = answer(request, await pool.close_idle())
            else:
                await pool.close()
                work = answer(request, None)
            task = asyncio.create_task(work)
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main(arguments: Sequence[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    timeout, idle = float(arguments[0]), float(arguments[1])
    ca_file = Path(arguments[2]) if len(arguments) > 2 else None

    async def run() -> None:
        pool = SmtpPool(tls_context=mail_tls_context(ca_file), timeout=timeout, idle_seconds=idle)
        await _serve(pool)

    try:
        import uvloop
    except ImportError:  # not on Windows: the standard loop
        asyncio.run(run())
    else:
        uvloop.run(run())


if __name__ == "__main__":
    main(sys.argv[1:])
