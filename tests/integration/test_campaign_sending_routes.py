"""The gateway's campaign routes of sending, run in-process against real PostgreSQL and NATS, with the
sequencer and the mailer played by responders on their command subjects: what each route asks of them and
what it passes through (the preview, step counts and warnings, the mailbox tests before activating)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from contracts import subjects
from contracts.campaign_settings import CampaignSettingsData, CampaignStatus, PauseReason
from contracts.commands import (
    CampaignStateReply,
    Mailbox,
    MailboxReply,
    MailboxTestReply,
    PreviewedStep,
    SequencePreview,
    ServerCheck,
    ServerOut,
    StepCount,
)
from contracts.events import ImportedLead, LeadImported
from contracts.replies import Refusal
from services.gateway.app import create_app
from services.gateway.auth import create_workspace
from services.gateway.projection.consumer import project, upsert_campaign
from services.runtime.db import create_engine, session_factory
from services.runtime.secrets import new_secret_key
from services.runtime.settings import Settings
from services.runtime.streams import ensure_streams
from tests.harness import TEST_CLIENT, temporary_nats

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
GOOD, BAD, GONE = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
PAUSED_DETAIL = "7 of the last 100 sends bounced (7%), over the 5% limit; mailbox sales@firma.cz"


@dataclass
class Peers:
    """The commands the fake sequencer and mailer received, by verb."""

    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def of(self, verb: str) -> list[dict[str, Any]]:
        return self.received.get(verb, [])


@dataclass
class Gateway:
    client: httpx.AsyncClient
    peers: Peers
    campaign_id: uuid.UUID
    lead_id: uuid.UUID
    other_lead_id: uuid.UUID


def _mailbox(mailbox_id: uuid.UUID, email: str) -> Mailbox:
    server = ServerOut(host="127.0.0.1", port=25, username=email, security="none")
    return Mailbox(
        id=mailbox_id,
        email=email,
        name="Obchod",
        smtp=server,
        imap=None,
        daily_limit=30,
        min_gap_seconds=120,
        created_at=NOW,
        updated_at=NOW,
    )


def _answers(campaign_id: uuid.UUID) -> dict[str, Callable[[dict[str, Any]], Any]]:
    state = CampaignStateReply(
        campaign_id=campaign_id,
        status=CampaignStatus.PAUSED,
        settings=CampaignSettingsData(mailbox_ids=[GOOD, BAD, GONE]),
        paused_reason=PauseReason.BOUNCE_PROTECTION,
        paused_detail=PAUSED_DETAIL,
        steps=[],
        step_counts=[StepCount(step=1, sent=2, due=1, waiting=3, uncertain=1, not_sendable=1, failed=0)],
        warnings=["mailbox sales@firma.cz is unhealthy: 5 failed sends in a row"],
    )
    emails = {GOOD: "info@firma.cz", BAD: "sales@firma.cz"}

    def get_mailbox(cmd: dict[str, Any]) -> Any:
        mailbox_id = uuid.UUID(cmd["mailbox_id"])
        if mailbox_id not in emails:
            return Refusal.not_found("No such mailbox.")
        return MailboxReply(mailbox=_mailbox(mailbox_id, emails[mailbox_id]))

    def test_mailbox(cmd: dict[str, Any]) -> Any:
        mailbox_id = uuid.UUID(cmd["mailbox_id"])
        if mailbox_id not in emails:
            return Refusal.not_found("No such mailbox.")
        refused = ServerCheck(ok=False, error="SMTP login refused: 535 5.7.8 bad credentials")
        return MailboxTestReply(
            ok=mailbox_id == GOOD, smtp=ServerCheck(ok=True) if mailbox_id == GOOD else refused, imap=None
        )

    def preview(cmd: dict[str, Any]) -> Any:
        return SequencePreview(
            campaign_id=uuid.UUID(cmd["campaign_id"]),
            lead_id=uuid.UUID(cmd["lead_id"]),
            steps=[
                PreviewedStep(step=1, subject="Dobrý den, Jano", body="Text"),
                PreviewedStep(step=2, subject="Re: Dobrý den, Jano", missing=["custom.pozice"]),
            ],
        )

    return {
        "sequencer.get_campaign": lambda cmd: state,
        "sequencer.change_campaign_status": lambda cmd: state.model_copy(
            update={"status": CampaignStatus.ACTIVE, "paused_reason": None, "paused_detail": None}
        ),
        "sequencer.preview_sequence": preview,
        "mailer.get_mailbox": get_mailbox,
        "mailer.test_mailbox": test_mailbox,
    }


async def _serve(nc: Client, peers: Peers, answers: dict[str, Callable[[dict[str, Any]], Any]]) -> None:
    for name, answer in answers.items():
        target, verb = name.split(".")

        def handler(answer: Callable[[dict[str, Any]], Any], verb: str) -> Callable[[Msg], Awaitable[None]]:
            async def on_command(msg: Msg) -> None:
                command = json.loads(msg.data)
                peers.received.setdefault(verb, []).append(command)
                await msg.respond(answer(command).model_dump_json(by_alias=True).encode())

            return on_command

        await nc.subscribe(subjects.command_subject(target, verb), cb=handler(answer, verb))


@pytest.fixture
async def gateway(migrated_database_url: str) -> AsyncIterator[Gateway]:
    engine = create_engine(migrated_database_url)
    campaign_id, lead_id, other_campaign, other_lead = (uuid.uuid4() for _ in range(4))
    async with session_factory(engine)() as session, session.begin():
        issued = await create_workspace(session, f"Routes {uuid.uuid4()}")
        workspace_id = issued.workspace_id
        for campaign, lead in ((campaign_id, lead_id), (other_campaign, other_lead)):
            await upsert_campaign(session, campaign, workspace_id, "Podzim")
            await project(
                session,
                LeadImported(
                    workspace_id=workspace_id,
                    campaign_id=campaign,
                    import_id=uuid.uuid4(),
                    chunk=0,
                    leads=[ImportedLead(lead_id=lead, email=f"{lead}@firma.cz", row=1)],
                ),
            )
    await engine.dispose()
    with temporary_nats() as server:
        url = server.url_for(TEST_CLIENT)
        nc = await nats.connect(url)
        await ensure_streams(nc.jetstream())
        peers = Peers()
        await _serve(nc, peers, _answers(campaign_id))
        settings = Settings(
            nats_url=url,
            database_url=migrated_database_url,
            secret_key=new_secret_key(),
            request_timeout_seconds=5,
        )
        app = create_app(settings)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://gateway.test",
                    headers={"Authorization": f"Bearer {issued.key}"},
                ) as client,
            ):
                yield Gateway(client, peers, campaign_id, lead_id, other_lead)
        finally:
            await nc.close()


async def test_a_campaign_passes_the_sequencers_step_counts_and_warnings_through(gateway: Gateway) -> None:
    response = await gateway.client.get(f"/api/v1/campaigns/{gateway.campaign_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["step_counts"] == [
        {"step": 1, "sent": 2, "due": 1, "waiting": 3, "uncertain": 1, "not_sendable": 1, "failed": 0}
    ]
    assert body["warnings"] == ["mailbox sales@firma.cz is unhealthy: 5 failed sends in a row"]
    # Why the campaign paused itself (bounce protection), passed through for the campaign page's banner.
    assert (body["status"], body["paused_reason"], body["paused_detail"]) == (
        "paused",
        "bounce_protection",
        PAUSED_DETAIL,
    )
    assert body["settings"]["bounce_protection"] == {
        "enabled": True,
        "threshold_percent": 5,
        "window": 100,
        "min_sample": 20,
    }


async def test_activating_tests_every_mailbox_first_and_passes_each_failure_in_words(
    gateway: Gateway,
) -> None:
    response = await gateway.client.post(f"/api/v1/campaigns/{gateway.campaign_id}/activate")
    assert response.status_code == 200, response.text
    assert sorted(c["mailbox_id"] for c in gateway.peers.of("test_mailbox")) == [
        str(GOOD),
        str(BAD),
        str(GONE),
    ]
    (command,) = gateway.peers.of("change_campaign_status")
    assert command["action"] == "activate"
    assert command["mailbox_failures"] == [
        "sales@firma.cz: SMTP login refused: 535 5.7.8 bad credentials",
        f"mailbox {GONE} no longer exists",
    ]
    # Pausing tests nothing.
    await gateway.client.post(f"/api/v1/campaigns/{gateway.campaign_id}/pause")
    assert len(gateway.peers.of("test_mailbox")) == 3


async def test_the_preview_forwards_the_lead_and_the_edited_steps_and_answers_the_sequencers_rendering(
    gateway: Gateway,
) -> None:
    steps = [{"subject": "Dobrý den, {{first_name|there}}", "body": "Text", "delay_minutes": 0}]
    response = await gateway.client.post(
        f"/api/v1/campaigns/{gateway.campaign_id}/preview",
        json={"lead_id": str(gateway.lead_id), "steps": steps},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "campaign_id": str(gateway.campaign_id),
        "lead_id": str(gateway.lead_id),
        "steps": [
            {"step": 1, "subject": "Dobrý den, Jano", "body": "Text", "missing": [], "errors": []},
            {
                "step": 2,
                "subject": "Re: Dobrý den, Jano",
                "body": "",
                "missing": ["custom.pozice"],
                "errors": [],
            },
        ],
    }
    (command,) = gateway.peers.of("preview_sequence")
    assert command["lead_id"] == str(gateway.lead_id) and command["steps"] == steps
    saved = await gateway.client.post(
        f"/api/v1/campaigns/{gateway.campaign_id}/preview", json={"lead_id": str(gateway.lead_id)}
    )
    assert saved.status_code == 200 and gateway.peers.of("preview_sequence")[1]["steps"] is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"lead_id": "other"}, 404),  # a lead of another campaign of the workspace
        ({"lead_id": str(uuid.UUID(int=99))}, 404),
        ({}, 422),
        ({"lead_id": "not a uuid"}, 422),
        ({"lead_id": str(uuid.UUID(int=99)), "extra": 1}, 422),
        ({"lead_id": str(uuid.UUID(int=99)), "steps": [{"subject": "x"}]}, 422),
    ],
)
async def test_the_preview_refuses_a_lead_not_in_the_campaign_and_a_bad_body_without_asking(
    gateway: Gateway, body: dict[str, Any], status: int
) -> None:
    if body.get("lead_id") == "other":
        body = {"lead_id": str(gateway.other_lead_id)}
    response = await gateway.client.post(f"/api/v1/campaigns/{gateway.campaign_id}/preview", json=body)
    assert response.status_code == status, response.text
    unknown = await gateway.client.post(
        f"/api/v1/campaigns/{uuid.uuid4()}/preview", json={"lead_id": str(gateway.lead_id)}
    )
    assert unknown.status_code == 404
    await asyncio.sleep(0)
    assert gateway.peers.of("preview_sequence") == []
