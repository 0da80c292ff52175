"""A service that fails on a command answers at once with an error reply, on real NATS and PostgreSQL.

Before, FastStream sent nothing when a handler raised or its command did not validate, and the gateway
answered 503 after its 15 s request timeout.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from contracts import subjects
from contracts.commands import CampaignCreatedReply, CreateCampaign
from contracts.replies import Refusal, RefusalKind, Reply
from services.gateway.deps import ask
from services.gateway.errors import CommandRefused, refusal_status
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.sequencer.tables import metadata

# Far below the gateway's 15 s: an answer, not a timeout.
PROMPTLY = 3.0


@dataclass
class Probe:
    service: Service
    target: str  # the unique "service" part of the probe's command subjects


async def _probe(database_url: str, nats_url: str) -> AsyncIterator[Probe]:
    service = Service(
        name="probe", metadata=metadata, settings=Settings(nats_url=nats_url, database_url=database_url)
    )
    target = f"probe{uuid.uuid4().hex[:8]}"
    broker = service.broker

    @broker.subscriber(subjects.command_subject(target, "divide_by_zero"), queue=target)
    async def divide_by_zero(cmd: CreateCampaign) -> Reply:
        async with service.sessions() as session:
            await session.execute(text("SELECT 1 / (:n - :n)"), {"n": 7})
        return Reply()

    @broker.subscriber(subjects.command_subject(target, "read"), queue=target)
    async def read(cmd: CreateCampaign) -> Reply:
        async with service.sessions() as session:
            await session.execute(text("SELECT 1"))
        return Reply()

    @broker.subscriber(subjects.command_subject(target, "create"), queue=target)
    async def create(cmd: CreateCampaign) -> CampaignCreatedReply | Refusal:
        if cmd.name == "taken":
            return Refusal.conflict("That campaign id is taken.")
        async with service.sessions() as session:
            now = (await session.execute(text("SELECT now()"))).scalar_one()
        return CampaignCreatedReply(campaign_id=cmd.campaign_id, name=cmd.name, created_at=now)

    @broker.subscriber(f"{target}.not_a_command", queue=target)
    async def not_a_command(cmd: CreateCampaign) -> Reply:
        raise RuntimeError("an event handler's failure propagates")

    await broker.start()
    try:
        yield Probe(service, target)
    finally:
        await broker.stop()
        await service.engine.dispose()


@pytest.fixture
async def probe(migrated_database_url: str, nats_url: str) -> AsyncIterator[Probe]:
    async for p in _probe(migrated_database_url, nats_url):
        yield p


@pytest.fixture
async def probe_without_database(nats_url: str) -> AsyncIterator[Probe]:
    # Port 1: nothing listens there, so every connection is refused at once.
    async for p in _probe("postgresql+psycopg://nobody@127.0.0.1:1/nothing", nats_url):
        yield p


def _campaign(name: str = "Q4") -> dict[str, str]:
    return {"workspace_id": str(uuid.uuid4()), "campaign_id": str(uuid.uuid4()), "name": name}


async def _request(nats_url: str, subject: str, payload: bytes) -> tuple[Refusal, float]:
    nc = await nats.connect(nats_url)
    try:
        started = time.monotonic()
        msg = await nc.request(subject, payload, timeout=PROMPTLY)
        return Refusal.model_validate_json(msg.data), time.monotonic() - started
    finally:
        await nc.close()


async def test_a_command_failing_in_postgresql_gets_a_generic_error_reply_at_once(
    probe: Probe, nats_url: str
) -> None:
    subject = subjects.command_subject(probe.target, "divide_by_zero")
    with capture_logs() as logs:
        reply, took = await _request(
            nats_url, subject, CreateCampaign(**_campaign()).model_dump_json().encode()
        )
    assert reply.kind is RefusalKind.INTERNAL
    assert reply.message == "The probe service failed on this request."
    assert took < PROMPTLY
    failed = [e for e in logs if e["event"] == "command failed"]
    assert len(failed) == 1, logs
    assert failed[0]["subject"] == subject
    assert failed[0]["error_type"] == "sqlalchemy.exc.DataError"
    assert failed[0]["log_level"] == "error"


async def test_a_command_with_nul_is_refused_by_the_service_itself_naming_the_field(
    probe: Probe, nats_url: str
) -> None:
    payload = CreateCampaign(**_campaign()).model_dump(mode="json") | {"name": "Q4\u0000secret"}
    with capture_logs() as logs:
        reply, _ = await _request(
            nats_url, subjects.command_subject(probe.target, "read"), json.dumps(payload).encode()
        )
    assert reply.kind is RefusalKind.INVALID, logs
    assert "name: contains the NUL character" in reply.message
    assert "secret" not in reply.message
    assert all("secret" not in repr(entry) for entry in logs)


@pytest.mark.parametrize("payload", [b"not json at all", b"{}", b'{"workspace_id": "x"}', b"\xff\xfe"])
async def test_a_malformed_command_is_answered_as_invalid(
    probe: Probe, nats_url: str, payload: bytes
) -> None:
    reply, _ = await _request(nats_url, subjects.command_subject(probe.target, "read"), payload)
    assert reply.kind is RefusalKind.INVALID
    assert reply.message.startswith("The command was refused: ")


async def test_a_command_the_database_cannot_serve_is_answered_unavailable(
    probe_without_database: Probe, nats_url: str
) -> None:
    # (The probe runs in this process: capturing its logs spares the loop the console's traceback.)
    with capture_logs() as logs:
        reply, took = await _request(
            nats_url,
            subjects.command_subject(probe_without_database.target, "read"),
            CreateCampaign(**_campaign()).model_dump_json().encode(),
        )
    assert reply.kind is RefusalKind.UNAVAILABLE
    assert reply.message == "The probe service cannot reach what it depends on; try again shortly."
    assert took < PROMPTLY
    assert [e["error_type"] for e in logs if e["event"] == "command failed"] == [
        "sqlalchemy.exc.OperationalError"
    ]


async def test_the_gateway_turns_a_failed_command_into_500_and_an_unreachable_dependency_into_503(
    probe: Probe, probe_without_database: Probe
) -> None:
    command = CreateCampaign.model_validate(_campaign())
    with capture_logs(), pytest.raises(CommandRefused) as failed:
        await ask(probe.service, "divide_by_zero", probe.target, command, Reply)
    assert refusal_status(failed.value.kind) == 500
    assert failed.value.refusal.message == "The probe service failed on this request."
    with capture_logs(), pytest.raises(CommandRefused) as unavailable:
        await ask(probe.service, "read", probe_without_database.target, command, Reply)
    assert refusal_status(unavailable.value.kind) == 503


async def test_a_refusal_a_handler_returns_keeps_its_wire_form_and_reaches_the_caller_as_command_refused(
    probe: Probe, nats_url: str
) -> None:
    subject = subjects.command_subject(probe.target, "create")
    refused = CreateCampaign.model_validate(_campaign("taken"))
    nc = await nats.connect(nats_url)
    try:
        msg = await nc.request(subject, refused.model_dump_json().encode(), timeout=PROMPTLY)
    finally:
        await nc.close()
    assert json.loads(msg.data) == {"error": "That campaign id is taken.", "error_code": "conflict"}
    with pytest.raises(CommandRefused) as conflict:
        await ask(probe.service, "create", probe.target, refused, CampaignCreatedReply)
    assert conflict.value.refusal == Refusal.conflict("That campaign id is taken.")
    assert refusal_status(conflict.value.kind) == 409


async def test_a_success_reply_reaches_the_caller_typed_with_no_error_keys(
    probe: Probe, nats_url: str
) -> None:
    command = CreateCampaign.model_validate(_campaign("Q4"))
    nc = await nats.connect(nats_url)
    try:
        msg = await nc.request(
            subjects.command_subject(probe.target, "create"),
            command.model_dump_json().encode(),
            timeout=PROMPTLY,
        )
    finally:
        await nc.close()
    assert set(json.loads(msg.data)) == {"campaign_id", "name", "created_at"}
    created = await ask(probe.service, "create", probe.target, command, CampaignCreatedReply)
    assert (created.campaign_id, created.name) == (command.campaign_id, "Q4")


async def test_a_failure_outside_command_subjects_is_not_answered(probe: Probe, nats_url: str) -> None:
    """Only commands are answered: other handlers' exceptions still propagate (JetStream redelivers)."""
    nc = await nats.connect(nats_url)
    try:
        with pytest.raises(nats.errors.TimeoutError):
            await nc.request(
                f"{probe.target}.not_a_command", CreateCampaign(**_campaign()).model_dump_json().encode(), 1.0
            )
    finally:
        await nc.close()
