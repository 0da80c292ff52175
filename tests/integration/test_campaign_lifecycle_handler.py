"""The sequencer's settings, sequence and status handlers on a real PostgreSQL: what they store, the
CampaignUpdated each change puts in the outbox with it, refusals that store and emit nothing, and another
workspace's campaign answered as missing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from contracts import CampaignUpdated, parse_event
from contracts.campaign_settings import ScheduleData, StepData
from contracts.commands import (
    CampaignAction,
    CampaignStateReply,
    ChangeCampaignStatus,
    CreateCampaign,
    GetCampaign,
    ReplaceSequence,
    SettingsChange,
    UpdateCampaignSettings,
)
from contracts.replies import Refusal, RefusalKind
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.sequencer.handlers import (
    change_status,
    create_campaign,
    get_campaign,
    replace_sequence,
    update_settings,
)
from services.sequencer.tables import metadata, outbox

MAILBOX = uuid.UUID(int=5)
STEPS = [
    StepData(subject="Hi {{first_name|there}}", body="Hello from {{company_name|us}}", delay_minutes=0),
    StepData(subject="", body="Following up", delay_minutes=2880),
]


@pytest.fixture
async def sequencer(migrated_database_url: str, nats_url: str) -> AsyncIterator[Service]:
    service = Service(
        name="sequencer",
        metadata=metadata,
        settings=Settings(nats_url=nats_url, database_url=migrated_database_url),
    )
    yield service
    await service.engine.dispose()


async def new_campaign(service: Service) -> tuple[uuid.UUID, uuid.UUID]:
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    await create_campaign(
        service, CreateCampaign(workspace_id=workspace_id, campaign_id=campaign_id, name="Jaro")
    )
    return workspace_id, campaign_id


async def updates(service: Service, campaign_id: uuid.UUID) -> list[CampaignUpdated]:
    async with service.sessions() as session:
        payloads = (await session.scalars(select(outbox.c.payload).order_by(outbox.c.id))).all()
    return [
        e
        for e in map(parse_event, payloads)
        if isinstance(e, CampaignUpdated) and e.campaign_id == campaign_id
    ]


def settings(workspace_id: uuid.UUID, campaign_id: uuid.UUID, **fields: object) -> UpdateCampaignSettings:
    change = SettingsChange.model_validate(fields)
    return UpdateCampaignSettings(
        workspace_id=workspace_id, campaign_id=campaign_id, change=change, fields_set=sorted(fields)
    )


def action(workspace_id: uuid.UUID, campaign_id: uuid.UUID, what: CampaignAction) -> ChangeCampaignStatus:
    return ChangeCampaignStatus(workspace_id=workspace_id, campaign_id=campaign_id, action=what)


async def test_settings_and_steps_are_stored_and_announced(sequencer: Service) -> None:
    workspace_id, campaign_id = await new_campaign(sequencer)
    schedule = {"timezone": "Europe/Prague", "days": ["fri", "mon"], "from": "09:00", "to": "24:00"}
    changed = await update_settings(
        sequencer,
        settings(workspace_id, campaign_id, schedule=schedule, mailbox_ids=[MAILBOX], send_to_unknown=False),
    )
    assert isinstance(changed, CampaignStateReply)
    sequenced = await replace_sequence(
        sequencer, ReplaceSequence(workspace_id=workspace_id, campaign_id=campaign_id, steps=STEPS)
    )
    assert isinstance(sequenced, CampaignStateReply)
    stored = await get_campaign(sequencer, GetCampaign(workspace_id=workspace_id, campaign_id=campaign_id))
    assert isinstance(stored, CampaignStateReply) and stored == sequenced
    assert stored.status == "draft" and stored.steps == STEPS
    assert stored.settings.schedule == ScheduleData.model_validate({**schedule, "days": ["mon", "fri"]})
    assert stored.settings.mailbox_ids == [MAILBOX] and stored.settings.daily_limit is None
    assert (stored.settings.stop_on_reply, stored.settings.wait_for_validation) == (True, True)
    assert stored.settings.send_to_unknown is False
    events = await updates(sequencer, campaign_id)
    assert [(e.settings, e.steps) for e in events] == [
        (changed.settings, []),
        (stored.settings, STEPS),
    ]


async def test_a_patch_keeps_what_it_does_not_name(sequencer: Service) -> None:
    workspace_id, campaign_id = await new_campaign(sequencer)
    await update_settings(
        sequencer, settings(workspace_id, campaign_id, daily_limit=25, mailbox_ids=[MAILBOX])
    )
    again = await update_settings(sequencer, settings(workspace_id, campaign_id, stop_on_reply=False))
    assert isinstance(again, CampaignStateReply)
    assert (again.settings.daily_limit, again.settings.mailbox_ids) == (25, [MAILBOX])
    cleared = await update_settings(sequencer, settings(workspace_id, campaign_id, daily_limit=None))
    assert isinstance(cleared, CampaignStateReply) and cleared.settings.daily_limit is None


async def test_refusals_store_and_emit_nothing(sequencer: Service) -> None:
    workspace_id, campaign_id = await new_campaign(sequencer)
    bad = await replace_sequence(
        sequencer,
        ReplaceSequence(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            steps=[StepData(subject="Hi {{frist_name}}", body="", delay_minutes=0)],
        ),
    )
    assert isinstance(bad, Refusal) and bad.kind == RefusalKind.INVALID
    assert "frist_name" in bad.message and "step 1, body: a step needs a body" in bad.message
    refused = await change_status(sequencer, action(workspace_id, campaign_id, CampaignAction.ACTIVATE))
    assert refused == Refusal.conflict(
        "the campaign has no steps: save a sequence first; the campaign has no mailbox to send from"
    )
    bad_schedule = await update_settings(
        sequencer,
        settings(
            workspace_id,
            campaign_id,
            schedule={"timezone": "Nowhere", "days": ["xyz"], "from": "9", "to": "17:00"},
        ),
    )
    assert isinstance(bad_schedule, Refusal) and bad_schedule.kind == RefusalKind.INVALID
    assert bad_schedule.message.count("schedule.") == 3
    assert await updates(sequencer, campaign_id) == []
    unchanged = await get_campaign(sequencer, GetCampaign(workspace_id=workspace_id, campaign_id=campaign_id))
    assert (
        isinstance(unchanged, CampaignStateReply)
        and unchanged.steps == []
        and unchanged.settings.schedule is None
    )


async def test_activate_pause_resume(sequencer: Service) -> None:
    workspace_id, campaign_id = await new_campaign(sequencer)
    await update_settings(sequencer, settings(workspace_id, campaign_id, mailbox_ids=[MAILBOX]))
    await replace_sequence(
        sequencer, ReplaceSequence(workspace_id=workspace_id, campaign_id=campaign_id, steps=STEPS)
    )
    statuses = []
    for what in (CampaignAction.ACTIVATE, CampaignAction.PAUSE, CampaignAction.RESUME):
        reply = await change_status(sequencer, action(workspace_id, campaign_id, what))
        assert isinstance(reply, CampaignStateReply)
        statuses.append(reply.status.value)
    assert statuses == ["active", "paused", "active"]
    again = await change_status(sequencer, action(workspace_id, campaign_id, CampaignAction.RESUME))
    assert again == Refusal.conflict("the campaign is active; only a paused campaign can be resumed")
    assert [e.status.value for e in await updates(sequencer, campaign_id)][-3:] == statuses


async def test_another_workspaces_campaign_is_not_found_and_unchanged(sequencer: Service) -> None:
    _, campaign_id = await new_campaign(sequencer)
    other = uuid.uuid4()
    answers = [
        await get_campaign(sequencer, GetCampaign(workspace_id=other, campaign_id=campaign_id)),
        await update_settings(sequencer, settings(other, campaign_id, daily_limit=3)),
        await replace_sequence(
            sequencer, ReplaceSequence(workspace_id=other, campaign_id=campaign_id, steps=STEPS)
        ),
        await change_status(sequencer, action(other, campaign_id, CampaignAction.PAUSE)),
    ]
    assert all(a == Refusal.not_found("No such campaign.") for a in answers)
    assert await updates(sequencer, campaign_id) == []


async def test_concurrent_changes_of_one_campaign_are_both_kept(sequencer: Service) -> None:
    workspace_id, campaign_id = await new_campaign(sequencer)
    await asyncio.gather(
        update_settings(sequencer, settings(workspace_id, campaign_id, mailbox_ids=[MAILBOX])),
        replace_sequence(
            sequencer, ReplaceSequence(workspace_id=workspace_id, campaign_id=campaign_id, steps=STEPS)
        ),
        update_settings(sequencer, settings(workspace_id, campaign_id, daily_limit=9)),
    )
    stored = await get_campaign(sequencer, GetCampaign(workspace_id=workspace_id, campaign_id=campaign_id))
    assert isinstance(stored, CampaignStateReply)
    assert (stored.settings.mailbox_ids, stored.settings.daily_limit, stored.steps) == ([MAILBOX], 9, STEPS)
    assert len(await updates(sequencer, campaign_id)) == 3
