"""What the sending tests share: a mailer (and the importer it asks about suppressions) running in this
process on the real PostgreSQL and NATS, a submission server (aiosmtpd) that keeps what it receives, and
the events a test publishes as the sequencer would."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import select, text

from contracts import CampaignUpdated, Event, parse_event
from contracts.campaign_settings import CampaignSettingsData, CampaignStatus, ScheduleData, StepData
from contracts.commands import CreateMailbox, ServerIn
from contracts.events import StepDue
from services.importer.app import create_service as create_importer
from services.mailer import handlers
from services.mailer.app import create_service as create_mailer
from services.mailer.connection_test import ConnectionTester
from services.mailer.handlers import Mailer
from services.mailer.smtp_process import SmtpProcess
from services.mailer.tables import sends
from services.runtime.secrets import Secrets
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.peers.submission import Certificate, SubmissionServer

PUBLIC_URL = "https://leads.example.test"
STEPS = [StepData(subject="Hi", body="Hello", delay_minutes=0), StepData(body="Again", delay_minutes=0)]


def mail_settings(nats_url: str, database_url: str, secret_key: str, **fields: Any) -> Settings:
    return Settings(
        nats_url=nats_url,
        database_url=database_url,
        secret_key=secret_key,
        public_url=PUBLIC_URL,
        mailer_retry_first_seconds=fields.pop("retry", 0.5),
        mailer_send_lease_seconds=fields.pop("lease", 60.0),
        **fields,
    )


@dataclass
class World:
    """A workspace with a campaign and a mailbox on `server`, and the services that send for it."""

    js: JetStreamContext
    mailer: Service
    importer: Service
    secrets: Secrets
    server: SubmissionServer
    workspace_id: uuid.UUID = field(default_factory=uuid.uuid4)
    campaign_id: uuid.UUID = field(default_factory=uuid.uuid4)
    mailbox_ids: list[uuid.UUID] = field(default_factory=list)
    heard: list[Event] = field(default_factory=list)

    async def publish(self, event: Event) -> None:
        await self.js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})

    async def add_mailbox(
        self, daily_limit: int = 1000, gap: int = 0, email: str = "ana@firma.cz"
    ) -> uuid.UUID:
        mailbox_id = uuid.uuid4()
        smtp = ServerIn(
            host=self.server.host,
            port=self.server.port,
            username=self.server.username,
            password=self.server.password,
            security=self.server.security,
        )
        command = CreateMailbox(
            workspace_id=self.workspace_id,
            mailbox_id=mailbox_id,
            email=email,
            name="Ana Nováková",
            smtp=smtp,
            daily_limit=daily_limit,
            min_gap_seconds=gap,
        )
        reply = await handlers.create_mailbox(Mailer(self.mailer, self.secrets, ConnectionTester()), command)
        assert not hasattr(reply, "kind"), reply
        self.mailbox_ids.append(mailbox_id)
        return mailbox_id

    async def campaign(
        self, status: CampaignStatus = CampaignStatus.ACTIVE, daily_limit: int | None = None, **settings: Any
    ) -> None:
        data = CampaignSettingsData(mailbox_ids=self.mailbox_ids, daily_limit=daily_limit, **settings)
        await self.publish(
            CampaignUpdated(
                workspace_id=self.workspace_id,
                campaign_id=self.campaign_id,
                status=status,
                settings=data,
                steps=STEPS,
            )
        )

    def step_due(self, lead_id: uuid.UUID, email: str, step: int = 1, **fields: Any) -> StepDue:
        return StepDue(
            workspace_id=self.workspace_id,
            campaign_id=self.campaign_id,
            lead_id=lead_id,
            step=step,
            total_steps=2,
            due_at=datetime.now(UTC),
            email=email,
            subject=fields.pop("subject", "Hi there" if step == 1 else "Re: Hi there"),
            body=fields.pop("body", "Hello,\nshall we talk?"),
            **fields,
        )

    async def listen(self, nc: Client) -> None:
        """Keep every event of the workspace published from now on (the outbox's rows go once published)."""

        async def keep(msg: Msg) -> None:
            self.heard.append(parse_event(msg.data))

        await nc.subscribe(f"leadflow.{self.workspace_id}.>", cb=keep)

    async def events(self, *types: type[Event]) -> list[Any]:
        return [e for e in self.heard if isinstance(e, types)]

    async def states(self) -> dict[tuple[uuid.UUID, int], str]:
        async with self.mailer.sessions() as session:
            rows = await session.execute(
                select(sends.c.lead_id, sends.c.step, sends.c.state).where(
                    sends.c.campaign_id == self.campaign_id
                )
            )
        return {(r.lead_id, r.step): r.state for r in rows}

    def received_by(self, address: str) -> list[Any]:
        with self.server.lock:
            return [m for m in self.server.received if address in m.rcpt_tos]


async def eventually(check: Callable[[], Any], within: float = 20.0, every: float = 0.1) -> Any:
    """`check()`'s first truthy value (awaited when it is a coroutine), or fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def running_mailers(
    settings: Settings, certificate: Certificate, count: int = 1
) -> AsyncIterator[tuple[Service, list[Service]]]:
    """The importer and `count` mailers side by side (sharing the work as replicas do)."""
    importer = create_importer(settings)
    mailers = [
        create_mailer(settings, smtp=SmtpProcess(ca_file=certificate.cert_path, timeout=10))
        for _ in range(count)
    ]
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(importer.running())
        for mailer in mailers:
            await stack.enter_async_context(mailer.running())
        yield importer, mailers


async def reset_pace(mailer: Service, mailbox_id: uuid.UUID, **values: Any) -> None:
    """Set a mailbox's pace columns (a test starting from a day already under way)."""
    columns = ", ".join(f"{k} = :{k}" for k in values)
    async with mailer.sessions() as session, session.begin():
        await session.execute(
            text(f"UPDATE mailer.mailbox_pace SET {columns} WHERE mailbox_id = :id"),
            {**values, "id": mailbox_id},
        )


def after(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


SCHEDULE_CLOSED_NOW = ScheduleData.model_validate(
    {
        "timezone": "UTC",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "from": "00:00",
        "to": "00:01",
    }
)
