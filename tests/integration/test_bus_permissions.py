"""Each service's NATS user may do what its code does on the bus and nothing else (bus_users.py), against
a real nats-server configured as `leadflow up` configures it."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from contracts import subjects
from services.composition import bus_grants
from services.runtime.bus_users import inbox_prefix
from services.runtime.embedded_nats import EmbeddedNats
from services.runtime.streams import UPLOADS_BUCKET, ensure_streams

pytestmark = pytest.mark.infra

WORKSPACE = str(uuid.uuid4())


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedNats]:
    """A server of this module alone: the violations provoked here are its own."""
    data_dir = Path(tempfile.mkdtemp(prefix="leadflow-test-bus-"))
    nats_server = EmbeddedNats(data_dir, users=bus_grants())
    try:
        nats_server.start()
        yield nats_server
    finally:
        nats_server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


class Connection:
    def __init__(self, client: Client, refusals: list[str]) -> None:
        self.client = client
        self.refusals = refusals

    async def refused(self, what: str) -> bool:
        """Whether the server reported a permissions violation naming `what` (it arrives asynchronously)."""
        await self.client.flush()
        for _ in range(50):
            # nats-py reports the server's message in lower case.
            if any(
                r.startswith("nats: permissions violation") and f'"{what.lower()}"' in r
                for r in self.refusals
            ):
                return True
            await asyncio.sleep(0.02)
        return False


@asynccontextmanager
async def connected(server: EmbeddedNats, user: str) -> AsyncIterator[Connection]:
    refusals: list[str] = []

    async def note(error: Exception) -> None:
        refusals.append(str(error))

    client = await nats.connect(
        server.url,
        user=user,
        password=server.credentials.password(user),
        inbox_prefix=inbox_prefix(user),
        error_cb=note,
        allow_reconnect=False,
    )
    try:
        yield Connection(client, refusals)
    finally:
        await client.close()


@asynccontextmanager
async def responder(server: EmbeddedNats, service: str) -> AsyncIterator[None]:
    """`service` answering every one of its commands with b"ok", as the real service would answer."""
    async with connected(server, service) as conn:

        async def answer(msg: Msg) -> None:
            await msg.respond(b"ok")

        await conn.client.subscribe(subjects.command_filter(service), queue=service, cb=answer)
        await conn.client.flush()
        yield


@pytest.mark.parametrize(
    "credentials",
    [{}, {"user": "importer", "password": "wrong"}, {"user": "nobody", "password": "x"}],
    ids=["none", "wrong-password", "unknown-user"],
)
async def test_a_client_without_valid_credentials_is_refused(
    server: EmbeddedNats, credentials: dict[str, str]
) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(server.url, allow_reconnect=False, connect_timeout=3, **credentials)


async def test_the_gateway_requests_commands_but_cannot_serve_them(server: EmbeddedNats) -> None:
    async with responder(server, "importer"), connected(server, "gateway") as gateway:
        reply = await gateway.client.request(
            subjects.command_subject("importer", "list_suppressions"), b"{}", timeout=5
        )
        assert reply.data == b"ok"
        await gateway.client.subscribe(subjects.command_filter("importer"))
        assert await gateway.refused(subjects.command_filter("importer"))
        await gateway.client.subscribe("leadflow.cmd.>")
        assert await gateway.refused("leadflow.cmd.>")


async def test_a_service_cannot_command_another_nor_take_its_commands(server: EmbeddedNats) -> None:
    async with responder(server, "sequencer"), connected(server, "importer") as importer:
        create = subjects.command_subject("sequencer", "create_campaign")
        with pytest.raises(nats.errors.TimeoutError):
            await importer.client.request(create, b"{}", timeout=1)
        assert await importer.refused(create)
        for foreign in (subjects.command_filter("validator"), subjects.command_filter("sequencer")):
            await importer.client.subscribe(foreign)
            assert await importer.refused(foreign)
        # Not even its own commands: only the gateway sends them.
        own = subjects.command_subject("importer", "list_suppressions")
        await importer.client.publish(own, b"{}")
        assert await importer.refused(own)


async def test_a_service_cannot_read_the_replies_meant_for_another(server: EmbeddedNats) -> None:
    async with connected(server, "validator") as validator:
        for inbox in (f"{inbox_prefix('gateway')}.>", "_INBOX.>", ">"):
            await validator.client.subscribe(inbox)
            assert await validator.refused(inbox)


async def test_a_service_cannot_publish_events_it_does_not_emit(server: EmbeddedNats) -> None:
    async with connected(server, "gateway") as gateway:
        await ensure_streams(gateway.client.jetstream())
    async with connected(server, "validator") as validator:
        # Its own verdicts go into the stream ...
        ack = await validator.client.jetstream().publish(
            subjects.event_subject(WORKSPACE, "leads_validated"), b"{}"
        )
        assert ack.stream == subjects.STREAM
        # ... an import it did not make does not.
        forged = subjects.event_subject(WORKSPACE, "lead_imported")
        with pytest.raises(nats.errors.TimeoutError):
            await validator.client.jetstream().publish(forged, b"{}", timeout=1)
        assert await validator.refused(forged)


async def test_a_service_cannot_consume_through_another_durable_nor_widen_its_own(
    server: EmbeddedNats,
) -> None:
    async with connected(server, "gateway") as gateway:
        await ensure_streams(gateway.client.jetstream())
    async with connected(server, "importer") as importer:
        js = importer.client.jetstream(timeout=1)
        # Its own durable, on its own filter, is allowed.
        own = await js.pull_subscribe(
            subjects.workspace_filter("leads_removed"), durable="importer-removals", stream=subjects.STREAM
        )
        await own.unsubscribe()
        # The validator's durable, or its own with every event, is not.
        with pytest.raises(nats.errors.TimeoutError):
            await js.pull_subscribe(
                subjects.workspace_filter("lead_imported"), durable="validator", stream=subjects.STREAM
            )
        with pytest.raises(nats.errors.TimeoutError):
            await js.pull_subscribe("leadflow.>", durable="importer-removals-wide", stream=subjects.STREAM)
        # Nor may it delete or purge the stream.
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_stream(subjects.STREAM)
        assert await importer.refused(f"$JS.API.STREAM.DELETE.{subjects.STREAM}")


async def test_the_cli_identity_reads_the_streams_state_and_changes_nothing(server: EmbeddedNats) -> None:
    async with connected(server, "gateway") as gateway:
        await ensure_streams(gateway.client.jetstream())
    async with connected(server, "cli") as cli:
        js = cli.client.jetstream()
        info = await js.stream_info(subjects.STREAM)
        assert info.config.name == subjects.STREAM
        assert isinstance(await js.consumers_info(subjects.STREAM), list)
        with pytest.raises(nats.errors.TimeoutError):
            await js.publish(subjects.event_subject(WORKSPACE, "lead_imported"), b"{}", timeout=1)
        with pytest.raises(nats.errors.TimeoutError):
            await cli.client.request(
                subjects.command_subject("importer", "list_suppressions"), b"{}", timeout=1
            )


async def test_an_upload_the_gateway_stores_is_read_back_whole_by_the_importer(server: EmbeddedNats) -> None:
    """The object store's whole path (chunks, meta, an ordered consumer with flow control, delete) within
    the two users' grants, with a file large enough for flow control to kick in."""
    data = bytes(range(256)) * (24 * 1024 * 1024 // 256)
    async with connected(server, "gateway") as gateway:
        await ensure_streams(gateway.client.jetstream())
        store = await gateway.client.jetstream().object_store(UPLOADS_BUCKET)
        await store.put("large.csv", data)
    async with connected(server, "importer") as importer:
        store = await importer.client.jetstream().object_store(UPLOADS_BUCKET)
        read = await store.get("large.csv")
        assert read.data == data
        await store.delete("large.csv")
        assert importer.refusals == []
