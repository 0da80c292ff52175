"""What every worker service shares: engine, broker, outbox relay, consumers, health endpoints.

A service module builds a `Service` in `create_service(settings)` (wiring only, nothing connects), registers
its consumers and command handlers on it, and `python -m services.<name>` serves it with `run_service`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import nats
import structlog
import uvicorn
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.exceptions import FastStreamException
from faststream.nats import DeliverPolicy, NatsBroker
from faststream.security import SASLPlaintext
from nats.aio.client import DEFAULT_INBOX_PREFIX
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from pydantic import BaseModel, ValidationError
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts import Event, subjects
from contracts.replies import Refusal, Reply, read_reply

from .command_errors import CommandErrorReplies
from .consumer import BATCH_SIZE, BatchHandler, EventConsumer, Handler
from .db import create_engine, ping, runtime_tables, session_factory
from .gc_tuning import tune_gc
from .logs import configure_logging, uvicorn_log_options
from .outbox import OutboxRelay
from .settings import LogSettings, Settings
from .streams import ensure_streams, events_jstream
from .unit_of_work import UnitOfWork, unit_of_work

log = structlog.get_logger(__name__)

DOCS_DATABASE_URL = "postgresql+psycopg://docs@localhost/docs"
DOCS_NATS_URL = "nats://127.0.0.1:4222"

Hook = Callable[[], Awaitable[None]]


async def declare_streams(nats_url: str, replicas: int, options: dict[str, Any]) -> None:
    nc = await nats.connect(nats_url, connect_timeout=5, **options)
    try:
        await ensure_streams(nc.jetstream(), replicas)
    finally:
        await nc.close()


R = TypeVar("R", bound=Reply)


class NoAnswer(Exception):
    """Another service did not answer a command in time (not running, or too busy): whether it would have
    done it is not known; the same command may work later."""


class Service:
    def __init__(self, *, name: str, metadata: MetaData, settings: Settings, for_docs: bool = False) -> None:
        if for_docs:
            nats_url, database_url = DOCS_NATS_URL, DOCS_DATABASE_URL
        else:
            nats_url, database_url = settings.require_urls()
        assert metadata.schema is not None, "a service's metadata names its schema"
        self.name = name
        self.for_docs = for_docs
        self.schema: str = metadata.schema
        self.settings = settings
        self.nats_url = nats_url
        self.database_url = database_url
        self.metadata = metadata
        self.outbox, self.processed_events = _runtime_tables_of(metadata)
        self.engine: AsyncEngine = create_engine(database_url)
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(engine=self.engine)
        # This service's own NATS user (bus_users.py), replies on its own `_INBOX.<user>` prefix.
        identity = {} if for_docs else settings.nats_options()
        self.inbox_prefix: str = identity.get("inbox_prefix", DEFAULT_INBOX_PREFIX.decode())
        # Per-message access logs at DEBUG: our consumers log what matters, with the event's ids bound.
        # FastStream's own logger would print coloured text to stdout; this one goes through ours.
        self.broker = NatsBroker(
            nats_url,
            security=SASLPlaintext(username=identity["user"], password=identity["password"])
            if identity
            else None,
            inbox_prefix=self.inbox_prefix,
            connect_timeout=5,
            max_reconnect_attempts=-1,
            logger=logging.getLogger("faststream.nats"),
            log_level=logging.DEBUG,
            # A failed command is answered with an error reply, not left to the caller's timeout.
            middlewares=(CommandErrorReplies(name),),
        )
        self.consumers: list[EventConsumer] = []
        # The events it publishes (`emits`): its NATS user may publish these and no others.
        self.emitted: list[type[Event]] = []
        self.relay: OutboxRelay | None = None
        # Set once the broker has started (every subscriber listening) and the startup hooks have run.
        self.started = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._startup_hooks: list[Hook] = []
        self._shutdown_hooks: list[Hook] = []
        # Service-specific readiness: each returns None when fine, else what is wrong (for /readyz).
        self.readiness_checks: list[Callable[[], str | None]] = []

    @property
    def js(self) -> JetStreamContext:
        return self.broker.connection.jetstream()

    def consume(
        self,
        event_type: str | Sequence[str] | None,
        handler: Handler,
        *,
        durable: str,
        batch_handler: BatchHandler | None = None,
        batch_size: int = BATCH_SIZE,
        only_new: bool = False,
    ) -> EventConsumer:
        """A durable consumer of one event type (or several) across workspaces, or of every event when
        None; with `batch_handler`, a batch's events are handed to it together (see EventConsumer). With
        `only_new`, a durable created on a stream that already holds events starts after them."""
        if event_type is None:
            filters = [subjects.STREAM_SUBJECTS[0]]
        else:
            types = [event_type] if isinstance(event_type, str) else list(event_type)
            filters = [subjects.workspace_filter(t) for t in types]
        consumer = EventConsumer(
            durable=durable,
            subject=filters[0],
            also=filters[1:],
            processed_events=self.processed_events,
            outbox=self.outbox,
            sessions=self.sessions,
            handler=handler,
            batch_handler=batch_handler,
            batch_size=batch_size,
            max_deliver=self.settings.max_deliver,
            ack_wait_seconds=self.settings.ack_wait_seconds,
            deliver_policy=DeliverPolicy.NEW if only_new else DeliverPolicy.ALL,
            inbox_prefix=self.inbox_prefix,
        )
        if self.for_docs:
            consumer.document(self.broker)
        self.consumers.append(consumer)
        return consumer

    def answers(self, verb: str, description: str | None = None) -> Callable[[Callable[..., Any]], Any]:
        """Subscribe the decorated function to this service's command `verb` (request/reply on
        `leadflow.cmd.<service>.<verb>`, one queue group, so replicas share the commands)."""
        return self.broker.subscriber(
            subjects.command_subject(self.name, verb),
            queue=self.name,
            title=f"{self.name}.{verb}",
            description=description,
        )

    async def ask(
        self, target: str, verb: str, command: BaseModel, reply_type: type[R], *, within: float | None = None
    ) -> R | Refusal:
        """Another service's command `verb` (request/reply on `leadflow.cmd.<target>.<verb>`): its reply, or the
        Refusal it answered instead; raises NoAnswer when nobody answered `within` seconds (default: the
        settings' `request_timeout_seconds`)."""
        try:
            message = await self.broker.request(
                command.model_dump(mode="json"),
                subjects.command_subject(target, verb),
                timeout=self.settings.request_timeout_seconds if within is None else within,
            )
        except (NatsError, TimeoutError, FastStreamException) as exc:
            raise NoAnswer(f"the {target} service did not answer {verb}: {exc!r}") from exc
        return read_reply(message.body, reply_type)

    def unit_of_work(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        """One transaction: state, emitted events (outbox) and handled marks commit together."""
        return unit_of_work(self.sessions, outbox=self.outbox, processed_events=self.processed_events)

    def emits(self, *event_types: type[Event]) -> None:
        """Document the events this service publishes (through its outbox) in the AsyncAPI document."""
        for event_type in event_types:
            self.emitted.append(event_type)
            name = event_type.model_fields["event_type"].default
            self.broker.publisher(
                subjects.event_subject("{workspace_id}", name)
                if not event_type.ephemeral
                else event_type.announced_on,
                stream=None if event_type.ephemeral else events_jstream(),
                schema=event_type,
                title=f"{self.name}:{name}",
                description=(event_type.__doc__ or "").strip() or None,
            )

    def on_startup(self, hook: Hook) -> None:
        """Runs once the broker is connected and the relay is running."""
        self._startup_hooks.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self._shutdown_hooks.append(hook)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.append(task)
        task.add_done_callback(self._report_crash)
        return task

    def _report_crash(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task crashed", task=task.get_name(), error=repr(task.exception()))

    async def before_broker_start(self) -> None:
        await declare_streams(self.nats_url, self.settings.stream_replicas, self.settings.nats_options())

    async def after_broker_start(self) -> None:
        self.relay = OutboxRelay(
            schema=self.schema,
            outbox=self.outbox,
            sessions=self.sessions,
            js=self.js,
            database_url=self.database_url,
        )
        self.spawn(self.relay.run(), f"{self.name}-outbox-relay")
        for consumer in self.consumers:
            await consumer.start(self.broker.connection)
        for hook in self._startup_hooks:
            await hook()
        self.started = True
        log.info("service started", service=self.name)

    async def before_broker_stop(self) -> None:
        self.started = False
        for consumer in self.consumers:
            await consumer.stop()
        for hook in self._shutdown_hooks:
            await hook()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def after_broker_stop(self) -> None:
        await self.engine.dispose()

    async def ready(self) -> bool:
        return await self.broker.ping(timeout=2.0) and await ping(self.engine)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Service]:
        """Start broker, consumers and relay inside another ASGI app's lifespan (the gateway's)."""
        await self.before_broker_start()
        await self.broker.start()
        try:
            await self.after_broker_start()
            yield self
        finally:
            await self.before_broker_stop()
            await self.broker.stop()
            await self.after_broker_stop()

    def asgi(self) -> AsgiFastStream:
        @get(include_in_schema=False)
        async def healthz(scope: Any) -> AsgiResponse:
            return AsgiResponse(b"ok", 200)

        @get(include_in_schema=False)
        async def startedz(scope: Any) -> AsgiResponse:
            # FastStream's ASGI app reports its startup complete (and uvicorn serves) before it starts the
            # broker: /healthz answers while the service's commands have no subscriber yet; this does not.
            return AsgiResponse(b"started", 200) if self.started else AsgiResponse(b"starting", 503)

        @get(include_in_schema=False)
        async def readyz(scope: Any) -> AsgiResponse:
            if not await self.ready():
                return AsgiResponse(b"not ready", 503)
            problems = [p for check in self.readiness_checks if (p := check()) is not None]
            if problems:
                return AsgiResponse("; ".join(problems).encode(), 503)
            return AsgiResponse(b"ready", 200)

        return AsgiFastStream(
            self.broker,
            asgi_routes=[("/healthz", healthz), ("/startedz", startedz), ("/readyz", readyz)],
            on_startup=[self.before_broker_start],
            after_startup=[self.after_broker_start],
            on_shutdown=[self.before_broker_stop],
            after_shutdown=[self.after_broker_stop],
        )


def _runtime_tables_of(metadata: MetaData) -> tuple[Table, Table]:
    schema = metadata.schema
    outbox = metadata.tables.get(f"{schema}.outbox")
    processed = metadata.tables.get(f"{schema}.processed_events")
    if outbox is None or processed is None:
        return runtime_tables(metadata)
    return outbox, processed


def settings_with_logging() -> Settings:
    """A process's settings, its logging configured before they are read: an invalid setting is then
    reported as a log record (JSON when asked for) like everything else."""
    try:
        first = LogSettings()
        configure_logging(first.log_level, first.log_json)
    except (ValidationError, KeyError):
        configure_logging()
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def run_service(factory: Callable[[Settings], Service]) -> None:
    """Entry point of `python -m services.<name>`: serve the service and its health endpoints."""
    settings = settings_with_logging()
    service = factory(settings)
    tune_gc()
    config = uvicorn.Config(
        service.asgi(),
        host=settings.http_host,
        port=settings.health_port,
        lifespan="on",
        **uvicorn_log_options(settings.log_level),
    )
    uvicorn.Server(config).run()
