"""The importer's answer to the mailer's `check_suppressions` on a real PostgreSQL: the asked addresses that
are on the workspace's list, as they were asked, whatever their case; another workspace's list is not it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from contracts.commands import AddSuppression, CheckSuppressions, SuppressionReply
from services.importer.suppressions.handlers import add_suppression, check_suppressions
from services.importer.tables import metadata
from services.runtime.service import Service
from services.runtime.settings import Settings


@pytest.fixture
async def importer(migrated_database_url: str, nats_url: str) -> AsyncIterator[Service]:
    service = Service(
        name="importer",
        metadata=metadata,
        settings=Settings(nats_url=nats_url, database_url=migrated_database_url),
    )
    yield service
    await service.engine.dispose()


async def test_the_suppressed_ones_of_the_asked_addresses(importer: Service) -> None:
    workspace, other = uuid.uuid4(), uuid.uuid4()
    for email in ("gone@example.com", "Left@Firma.cz"):
        added = await add_suppression(importer, AddSuppression(workspace_id=workspace, email=email))
        assert isinstance(added, SuppressionReply)
    added = await add_suppression(importer, AddSuppression(workspace_id=other, email="here@example.com"))
    assert isinstance(added, SuppressionReply)
    asked = ["GONE@example.com", "left@firma.cz", "here@example.com", "not an address", "new@example.com"]
    answer = await check_suppressions(importer, CheckSuppressions(workspace_id=workspace, emails=asked))
    assert answer.emails == ["GONE@example.com", "left@firma.cz"]
    nothing = await check_suppressions(importer, CheckSuppressions(workspace_id=uuid.uuid4(), emails=asked))
    assert nothing.emails == []
