"""One mailbox's INBOX over IMAP, with aioimaplib: connect (TLS from the start, STARTTLS or none), log in,
select; the messages after a position (UIDVALIDITY and the last UID read), and a wait for more (IDLE where
the server offers it, a pause otherwise).

A changed UIDVALIDITY means the UIDs read before name other messages now: the mailbox is read again from
its first message, and the caller, which keys each message by its Message-ID and mailbox, keeps what it
already has. Bodies are fetched with `BODY.PEEK[]`, so reading marks nothing as seen.

aioimaplib has no STARTTLS (aioimaplib issue #1): the command is sent through its protocol, and the
connection is then upgraded with asyncio's own `loop.start_tls`, with the same verification as TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from aioimaplib import aioimaplib

from contracts.commands.mailboxes import Security

# STARTTLS is valid before login, and nothing else may run meanwhile.
aioimaplib.Commands.setdefault(
    "STARTTLS", aioimaplib.Cmd("STARTTLS", (aioimaplib.NONAUTH,), aioimaplib.Exec.is_sync)
)

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCHED_UID = re.compile(rb"\bUID (\d+)\b")


@dataclass(frozen=True)
class ImapLogin:
    host: str
    port: int
    username: str
    password: str
    security: Security


@dataclass(frozen=True)
class Position:
    """Where reading stands: the mailbox's UIDVALIDITY and the last UID read under it."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class Arrived:
    uid: int
    raw: bytes


class ImapError(Exception):
    """Connecting, logging in or reading failed; the message says what, in words."""


class ImapInbox:
    """One connection to a mailbox's INBOX (see the module)."""

    def __init__(self, login: ImapLogin, *, tls_context: ssl.SSLContext, timeout: float = 30.0) -> None:
        self.login = login
        self.tls_context = tls_context
        self.timeout = timeout
        self.uidvalidity = 0
        self._client: aioimaplib.IMAP4 | None = None
        self._lost = False

    @property
    def where(self) -> str:
        return f"{self.login.host}:{self.login.port}"

    @property
    def can_idle(self) -> bool:
        return self._client is not None and self._client.has_capability("IDLE")

    async def open(self) -> int:
        """Connect, log in and select INBOX; its UIDVALIDITY."""
        login = self.login
        try:
            if login.security == "tls":
                client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                    login.host, login.port, timeout=self.timeout, ssl_context=self.tls_context
                )
            else:
                client = aioimaplib.IMAP4(login.host, login.port, timeout=self.timeout)
            self._client = client
            self._lost = False
            client.protocol.conn_lost_cb = self._on_lost
            await client.wait_hello_from_server()
            if login.security == "starttls":
                await self._starttls(client)
            answer = await client.login(login.username, login.password)
            if answer.result != "OK":
                raise ImapError(f"IMAP login refused at {self.where}: {_text(answer.lines)}")
            selected = await client.select("INBOX")
            if selected.result != "OK":
                raise ImapError(f"INBOX could not be opened at {self.where}: {_text(selected.lines)}")
        except ImapError:
            await self.close()
            raise
        except (OSError, TimeoutError, ssl.SSLError, aioimaplib.AioImapException) as exc:
            await self.close()
            raise ImapError(f"IMAP at {self.where} failed: {exc or type(exc).__name__}") from exc
        found = next((m for line in selected.lines if (m := _UIDVALIDITY.search(bytes(line)))), None)
        if found is None:
            await self.close()
            raise ImapError(f"the IMAP server at {self.where} gave INBOX no UIDVALIDITY")
        self.uidvalidity = int(found.group(1))
        return self.uidvalidity

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError(f"the IMAP server at {self.where} does not offer STARTTLS")
        loop = asyncio.get_running_loop()
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=loop, timeout=self.timeout)
        answer = await protocol.execute(command)
        if answer.result != "OK":
            raise ImapError(f"the IMAP server at {self.where} refused STARTTLS: {_text(answer.lines)}")
        transport = await asyncio.wait_for(
            loop.start_tls(protocol.transport, protocol, self.tls_context, server_hostname=self.login.host),
            self.timeout,
        )
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), self.timeout)

    def _on_lost(self, exc: Exception | None) -> None:
        """The server closed the connection (restarted, say): a wait ends at once and says so."""
        self._lost = True
        if self._client is not None:
            self._client.protocol.idle_queue.put_nowait(aioimaplib.STOP_WAIT_SERVER_PUSH)

    async def after(self, position: Position | None, limit: int = 100) -> tuple[list[Arrived], Position]:
        """Up to `limit` messages after `position`, in UID order, and the position after them. Without a
        position, or under another UIDVALIDITY, from the first message."""
        client = self._require()
        same = position is not None and position.uidvalidity == self.uidvalidity
        last = position.last_uid if position is not None and same else 0
        try:
            await client.noop()  # the server tells of messages that arrived since the select
            found = await client.uid_search(f"UID {last + 1}:*", charset=None)
            uids = sorted(u for u in _numbers(found.lines) if u > last)[:limit]
            arrived = await self._fetch(client, uids) if uids else []
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise ImapError(f"reading INBOX at {self.where} failed: {exc or type(exc).__name__}") from exc
        end = max((a.uid for a in arrived), default=last)
        return arrived, Position(self.uidvalidity, end)

    async def _fetch(self, client: aioimaplib.IMAP4, uids: Sequence[int]) -> list[Arrived]:
        answer = await client.uid("fetch", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
        if answer.result != "OK":
            raise ImapError(f"fetching from INBOX at {self.where} failed: {_text(answer.lines)}")
        arrived: list[Arrived] = []
        uid: int | None = None
        for line in answer.lines:
            if isinstance(line, bytearray):
                if uid is not None:
                    arrived.append(Arrived(uid, bytes(line)))
                uid = None
                continue
            match = _FETCHED_UID.search(line) if b"FETCH" in line else None
            if match is not None:
                uid = int(match.group(1))
        return sorted(arrived, key=lambda a: a.uid)

    async def wait(self, seconds: float) -> None:
        """Until the server says a message arrived (IDLE), or `seconds` pass; without IDLE, a pause."""
        client = self._require()
        if not self.can_idle:
            await asyncio.sleep(seconds)
            return
        try:
            idle = await client.idle_start(timeout=seconds + self.timeout)
            with contextlib.suppress(TimeoutError):
                while True:
                    pushed = await client.wait_server_push(timeout=seconds)
                    if isinstance(pushed, list) and any(b"EXISTS" in bytes(p) for p in pushed):
                        break
                    if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                        break
            if self._lost:
                idle.cancel()
                raise ImapError(f"the IMAP server at {self.where} closed the connection")
            client.idle_done()
            await asyncio.wait_for(idle, self.timeout)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise ImapError(f"waiting on INBOX at {self.where} failed: {exc or type(exc).__name__}") from exc
        if self._lost:
            raise ImapError(f"the IMAP server at {self.where} closed the connection")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.logout(), 2)
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()

    def _require(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise ImapError("the IMAP connection is not open")
        if self._lost:
            raise ImapError(f"the IMAP server at {self.where} closed the connection")
        return self._client


def _numbers(lines: Sequence[bytes | bytearray]) -> list[int]:
    first = bytes(lines[0]) if lines else b""
    return [int(n) for n in first.split() if n.isdigit()]


def _text(lines: Sequence[bytes | bytearray]) -> str:
    return " ".join(bytes(line).decode(errors="replace") for line in lines if isinstance(line, bytes)).strip()
