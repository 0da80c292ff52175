"""The gateway's projection of CampaignUpdated on a real PostgreSQL: the read model's status follows the
latest event, and an older one delivered again (or late) never takes the campaign back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import CampaignCreated, CampaignUpdated, Event
from contracts.campaign_settings import CampaignSettingsData, CampaignStatus
from services.gateway.projection.consumer import project
from services.gateway.tables import campaigns
from services.runtime.db import create_engine, session_factory

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database_url)
    yield engine
    await engine.dispose()


def updated(workspace_id: uuid.UUID, campaign_id: uuid.UUID, status: str, minutes: int) -> CampaignUpdated:
    return CampaignUpdated(
        workspace_id=workspace_id,
        campaign_id=campaign_id,
        status=CampaignStatus(status),
        settings=CampaignSettingsData(),
        steps=[],
        occurred_at=T0 + timedelta(minutes=minutes),
    )


@pytest.mark.parametrize(
    ("deliveries", "expected"),
    [
        ([], "draft"),
        ([("active", 1)], "active"),
        ([("active", 1), ("paused", 2)], "paused"),
        ([("active", 1), ("paused", 2), ("active", 1)], "paused"),  # the older one again
        ([("paused", 2), ("active", 1)], "paused"),  # out of order
        ([("active", 1), ("paused", 2), ("active", 3)], "active"),
    ],
)
async def test_the_status_is_the_latest_events(
    engine: AsyncEngine, deliveries: list[tuple[str, int]], expected: str
) -> None:
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    sessions = session_factory(engine=engine)
    events: list[Event] = [
        CampaignCreated(workspace_id=workspace_id, campaign_id=campaign_id, name="Jaro", occurred_at=T0)
    ]
    events += [updated(workspace_id, campaign_id, status, minutes) for status, minutes in deliveries]
    for event in events:
        async with sessions() as session, session.begin():
            await project(session, event)
    async with sessions() as session:
        status = await session.scalar(select(campaigns.c.status).where(campaigns.c.id == campaign_id))
    assert status == expected
