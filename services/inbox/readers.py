"""Which mailboxes this replica reads: one reader task per mailbox it holds, across every replica one.

The mailboxes are the mailer's (`list_imap_logins`), read again every `inbox_refresh_seconds` and at once on
a MailboxChanged. Every third of `inbox_lease_seconds` this replica renews its leases and takes the
mailboxes nobody holds (a new one, or one whose replica died: its lease ran out). A reader runs while its
mailbox is held and its settings unchanged; a mailbox lost, removed or changed has its reader cancelled
(a changed one starts again with the new settings). On shutdown the leases are let go, so another replica
takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from uuid import UUID

import structlog

from contracts import MailboxChanged
from contracts.commands import ImapLogin, ImapLoginPage, ListImapLogins
from contracts.replies import Refusal
from services.inbox.reader import Reading, read_mailbox
from services.inbox.repository import InboxRepository, Mailbox
from services.runtime.service import NoAnswer
from services.runtime.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)


class MailerUnavailable(Exception):
    pass


class Readers:
    def __init__(self, reading: Reading, *, lease_seconds: float, refresh_seconds: float) -> None:
        self.reading = reading
        self.lease = timedelta(seconds=lease_seconds)
        self.refresh_seconds = refresh_seconds
        self.running: dict[UUID, tuple[Mailbox, asyncio.Task[None]]] = {}
        self._refresh_now = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = self.reading.service.spawn(self._run(), name="inbox-readers")

    async def stop(self) -> None:
        tasks = [task for _, task in self.running.values()]
        if self._task is not None:
            tasks.append(self._task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        held = list(self.running)
        self.running.clear()
        if held:
            with contextlib.suppress(Exception):
                async with self.reading.service.unit_of_work() as uow:
                    await InboxRepository.from_session(uow.session).let_go(self.reading.owner, held)

    async def on_mailbox_changed(self, uow: UnitOfWork, event: MailboxChanged) -> None:
        """A MailboxChanged: the settings are read again at once (after this handler commits)."""
        self._refresh_now.set()

    async def _run(self) -> None:
        refreshed_at = float("-inf")
        while True:
            if self._refresh_now.is_set() or time.monotonic() - refreshed_at >= self.refresh_seconds:
                self._refresh_now.clear()
                try:
                    await self.refresh()
                    refreshed_at = time.monotonic()
                except MailerUnavailable as exc:
                    log.warning("the mailboxes' IMAP settings could not be read", error=str(exc))
            try:
                await self.hold()
            except Exception:
                log.exception("renewing the mailboxes' leases failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh_now.wait(), self.lease.total_seconds() / 3)

    async def refresh(self) -> None:
        """Read every mailbox's IMAP settings from the mailer and keep exactly those."""
        logins: list[ImapLogin] = []
        after: UUID | None = None
        while True:
            page = await self._ask(ListImapLogins(after=after))
            logins.extend(page.items)
            if page.next_after is None:
                break
            after = page.next_after
        async with self.reading.service.unit_of_work() as uow:
            await InboxRepository.from_session(uow.session).replace_logins(logins)

    async def _ask(self, command: ListImapLogins) -> ImapLoginPage:
        try:
            answer = await self.reading.service.ask("mailer", "list_imap_logins", command, ImapLoginPage)
        except NoAnswer as exc:
            raise MailerUnavailable(str(exc)) from exc
        if isinstance(answer, Refusal):
            raise MailerUnavailable(answer.message)
        return answer

    async def hold(self) -> None:
        """Renew and take leases; start and stop readers to match (see the module)."""
        async with self.reading.service.unit_of_work() as uow:
            repo = InboxRepository.from_session(uow.session)
            found = {mailbox.id: mailbox for mailbox in await repo.all()}
            held = await repo.hold(self.reading.owner, list(found), self.lease)
        for mailbox_id, (mailbox, task) in list(self.running.items()):
            now = found.get(mailbox_id)
            if mailbox_id in held and now == mailbox and not task.done():
                continue
            task.cancel()
            del self.running[mailbox_id]
            log.info("stopped reading mailbox", mailbox=mailbox.email, held=mailbox_id in held)
        for mailbox_id in held:
            if mailbox_id not in self.running:
                mailbox = found[mailbox_id]
                task = asyncio.ensure_future(read_mailbox(self.reading, mailbox))
                task.set_name(f"inbox-{mailbox.email}")
                self.running[mailbox_id] = (mailbox, task)
