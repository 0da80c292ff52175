"""The sequencer's create_campaign on a real PostgreSQL: one campaign and one CampaignCreated per id,
however often (or how concurrently) the command comes, and another workspace's id refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from contracts import CampaignCreated, parse_event
from contracts.commands import CampaignCreatedReply, CreateCampaign
from contracts.replies import Refusal, RefusalKind
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.sequencer.handlers import create_campaign
from services.sequencer.tables import campaigns, metadata, outbox


@pytest.fixture
async def sequencer(migrated_database_url: str, nats_url: str) -> AsyncIterator[Service]:
    service = Service(
        name="sequencer",
        metadata=metadata,
        settings=Settings(nats_url=nats_url, database_url=migrated_database_url),
    )
    yield service
    await service.engine.dispose()


async def stored(
    service: Service, campaign_id: uuid.UUID
) -> tuple[list[tuple[uuid.UUID, str]], list[CampaignCreated]]:
    """The campaign's rows (workspace, name) and the CampaignCreated events in the outbox for it."""
    async with service.sessions() as session:
        rows = (
            await session.execute(
                select(campaigns.c.workspace_id, campaigns.c.name).where(campaigns.c.id == campaign_id)
            )
        ).all()
        payloads = (await session.scalars(select(outbox.c.payload))).all()
    events = [
        e
        for e in map(parse_event, payloads)
        if isinstance(e, CampaignCreated) and e.campaign_id == campaign_id
    ]
    return [(r.workspace_id, r.name) for r in rows], events


async def test_a_repeated_create_answers_as_the_first_and_emits_once(sequencer: Service) -> None:
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    first = await create_campaign(
        sequencer, CreateCampaign(workspace_id=workspace_id, campaign_id=campaign_id, name="Jaro")
    )
    again = await create_campaign(
        sequencer, CreateCampaign(workspace_id=workspace_id, campaign_id=campaign_id, name="Podzim")
    )
    assert isinstance(first, CampaignCreatedReply) and again == first
    assert first.name == "Jaro"
    rows, events = await stored(sequencer, campaign_id)
    assert rows == [(workspace_id, "Jaro")]
    assert [(e.workspace_id, e.name) for e in events] == [(workspace_id, "Jaro")]


async def test_another_workspaces_campaign_id_is_refused_and_left_alone(sequencer: Service) -> None:
    owner, other, campaign_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await create_campaign(sequencer, CreateCampaign(workspace_id=owner, campaign_id=campaign_id, name="Ours"))
    refused = await create_campaign(
        sequencer, CreateCampaign(workspace_id=other, campaign_id=campaign_id, name="Theirs")
    )
    assert isinstance(refused, Refusal) and refused.kind == RefusalKind.CONFLICT
    rows, events = await stored(sequencer, campaign_id)
    assert rows == [(owner, "Ours")]
    assert len(events) == 1


async def test_concurrent_creates_of_one_id_store_and_emit_it_once(sequencer: Service) -> None:
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    command = CreateCampaign(workspace_id=workspace_id, campaign_id=campaign_id, name="Souběh")
    replies = await asyncio.gather(*(create_campaign(sequencer, command) for _ in range(6)))
    assert all(isinstance(r, CampaignCreatedReply) for r in replies)
    assert len({r.model_dump_json() for r in replies}) == 1
    rows, events = await stored(sequencer, campaign_id)
    assert rows == [(workspace_id, "Souběh")]
    assert len(events) == 1
