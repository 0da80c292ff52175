"""Bounce protection as the sequencer runs (real PostgreSQL and JetStream): EmailSent and EmailBounced in,
the campaign paused by itself (CampaignUpdated, status paused) with its reason in get_campaign's answer, per
campaign and per shared mailbox; a person's resume clears it. The stack and helpers are
test_sequencer_progress's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select

from contracts import CampaignUpdated, EmailBounced, EmailSent, Event
from contracts.campaign_settings import CampaignStatus, PauseReason
from contracts.commands import CampaignAction, CampaignStateReply
from services.runtime.service import Service
from services.sequencer.tables import processed_events
from tests.harness import eventually
from tests.integration import test_sequencer_progress
from tests.integration.test_sequencer_progress import MAILBOX, Stack, campaign, get, status

own_nats = test_sequencer_progress.own_nats
stack = test_sequencer_progress.stack

PROTECTION = {"enabled": True, "threshold_percent": 5, "window": 100, "min_sample": 20}
DURABLES = {EmailSent: "sequencer-sends", EmailBounced: "sequencer-stops"}


def sends(
    ws: uuid.UUID, cid: uuid.UUID, count: int, *, mailbox: uuid.UUID = MAILBOX, start: datetime | None = None
) -> list[EmailSent]:
    """`count` sends of the campaign from the mailbox, a second apart (the leads need not be known)."""
    at = start or datetime.now(UTC) - timedelta(hours=1)
    return [
        EmailSent(
            workspace_id=ws,
            campaign_id=cid,
            lead_id=uuid.uuid4(),
            step=1,
            total_steps=3,
            message_id=f"<{uuid.uuid4()}@firma.cz>",
            mailbox="obchod@firma.cz",
            mailbox_id=mailbox,
            occurred_at=at + timedelta(seconds=n),
        )
        for n in range(count)
    ]


def bounce(
    send: EmailSent, kind: str = "hard", status_code: str | None = "5.1.1", **fields: Any
) -> EmailBounced:
    values: dict[str, Any] = {
        "message_id": send.message_id,
        "mailbox_id": send.mailbox_id,
        "source": "dsn",
    } | fields
    return EmailBounced(
        workspace_id=send.workspace_id,
        campaign_id=send.campaign_id,
        lead_id=send.lead_id,
        kind=kind,
        smtp_code=550,
        email="x@firma.cz",
        status=status_code,
        **values,
    )


async def publish(stack: Stack, *events: Event) -> None:
    """Publish and wait until the sequencer has handled every one (its consumers marked them)."""
    await stack.bus.publish(*events)

    async def handled() -> bool:
        async with stack.service.sessions() as session:
            count = await session.scalar(
                select(func.count()).where(processed_events.c.event_id.in_([e.event_id for e in events]))
            )
        return count == len(events)

    await eventually(handled)


async def paused(service: Service, ws: uuid.UUID, cid: uuid.UUID) -> CampaignStateReply:
    async def state() -> CampaignStateReply | None:
        reply = await get(service, ws, cid)
        return reply if reply.status is CampaignStatus.PAUSED else None

    return await eventually(state)


async def test_two_bounces_of_twenty_sends_pause_the_campaign_until_a_person_resumes_it(stack: Stack) -> None:
    service = stack.service
    ws, cid = await campaign(service, bounce_protection=PROTECTION)
    first = sends(ws, cid, 20)
    await publish(stack, *first)
    await publish(stack, bounce(first[0]))
    assert (await get(service, ws, cid)).status is CampaignStatus.ACTIVE  # 1 of 20 is 5%: not over
    await publish(stack, bounce(first[1]))

    state = await paused(service, ws, cid)
    assert state.paused_reason is PauseReason.BOUNCE_PROTECTION
    assert state.paused_detail == "2 of the last 20 sends bounced (10%), over the 5% limit; this campaign"
    assert state.settings.bounce_protection.threshold_percent == 5
    announced = await eventually(lambda: _last_updated(stack, cid, CampaignStatus.PAUSED))
    assert announced.settings.bounce_protection.min_sample == 20

    resumed = await status(service, ws, cid, CampaignAction.RESUME)
    assert isinstance(resumed, CampaignStateReply)
    assert (resumed.status, resumed.paused_reason, resumed.paused_detail) == (
        CampaignStatus.ACTIVE,
        None,
        None,
    )
    # Bounces of the sends before the resume (late DSNs) no longer count; only sends made since do.
    await publish(stack, *(bounce(s) for s in first[2:6]))
    assert (await get(service, ws, cid)).status is CampaignStatus.ACTIVE
    later = sends(ws, cid, 20, start=datetime.now(UTC) + timedelta(seconds=1))
    await publish(stack, *later)
    await publish(stack, bounce(later[0]), bounce(later[1]))
    assert (await paused(service, ws, cid)).paused_reason is PauseReason.BOUNCE_PROTECTION


async def test_one_bounce_or_soft_ones_keep_it_active_and_a_policy_block_counts(stack: Stack) -> None:
    service = stack.service
    ws, cid = await campaign(service, bounce_protection=PROTECTION)
    batch = sends(ws, cid, 20)
    await publish(stack, *batch)
    await publish(
        stack,
        bounce(batch[0]),
        bounce(batch[0], source="smtp"),  # the same send bounced twice is one bounce
        bounce(batch[1], kind="soft", status_code="4.2.2"),  # a full mailbox
        bounce(batch[2], kind="soft", status_code=None),
    )
    state = await get(service, ws, cid)
    assert (state.status, state.paused_reason) == (CampaignStatus.ACTIVE, None)
    await publish(stack, bounce(batch[3], kind="soft", status_code="5.7.1"))  # a policy block counts
    assert (await paused(service, ws, cid)).paused_detail == (
        "2 of the last 20 sends bounced (10%), over the 5% limit; this campaign"
    )


async def test_under_the_minimum_sample_nothing_pauses_and_disabled_protection_never_does(
    stack: Stack,
) -> None:
    service = stack.service
    ws, cid = await campaign(service, bounce_protection=PROTECTION)
    few = sends(ws, cid, 19)
    await publish(stack, *few)
    await publish(stack, *(bounce(s) for s in few[:5]))
    ws_off, off = await campaign(service, bounce_protection=PROTECTION | {"enabled": False})
    many = sends(ws_off, off, 20, mailbox=uuid.uuid4())
    await publish(stack, *many)
    await publish(stack, *(bounce(s) for s in many[:10]))
    assert (await get(service, ws, cid)).status is CampaignStatus.ACTIVE
    assert (await get(service, ws_off, off)).status is CampaignStatus.ACTIVE
    assert not [e for e in stack.bus.of(CampaignUpdated, cid) if e.status is CampaignStatus.PAUSED]


async def test_a_bounce_before_its_send_and_one_of_an_unknown_send_count(stack: Stack) -> None:
    service = stack.service
    ws, cid = await campaign(service, bounce_protection=PROTECTION)
    batch = sends(ws, cid, 19)
    await publish(stack, bounce(batch[0]))  # the DSN overtook the EmailSent
    await publish(stack, *batch)
    assert (await get(service, ws, cid)).status is CampaignStatus.ACTIVE
    await publish(stack, bounce(batch[1], message_id=None))  # its own row: 2 bounced of 20
    assert (await paused(service, ws, cid)).paused_reason is PauseReason.BOUNCE_PROTECTION


async def test_a_shared_mailbox_over_the_threshold_pauses_every_active_campaign_using_it(
    stack: Stack,
) -> None:
    service = stack.service
    shared, own = uuid.uuid4(), uuid.uuid4()
    ws1, first = await campaign(service, mailbox_ids=[shared], bounce_protection=PROTECTION)
    ws2, second = await campaign(service, mailbox_ids=[shared, own], bounce_protection=PROTECTION)
    ws3, elsewhere = await campaign(service, mailbox_ids=[own], bounce_protection=PROTECTION)
    a, b = sends(ws1, first, 10, mailbox=shared), sends(ws2, second, 10, mailbox=shared)
    await publish(stack, *a, *b)
    # Each campaign has 10 sends (under its minimum sample), the mailbox 20, 2 of them bounced.
    await publish(stack, bounce(a[0]), bounce(a[1]))
    detail = "2 of the last 20 sends bounced (10%), over the 5% limit; mailbox obchod@firma.cz"
    for ws, cid in ((ws1, first), (ws2, second)):
        state = await paused(service, ws, cid)
        assert (state.paused_reason, state.paused_detail) == (PauseReason.BOUNCE_PROTECTION, detail)
        await eventually(partial(_last_updated, stack, cid, CampaignStatus.PAUSED))
    assert (await get(service, ws3, elsewhere)).status is CampaignStatus.ACTIVE


async def _last_updated(stack: Stack, cid: uuid.UUID, wanted: CampaignStatus) -> CampaignUpdated | None:
    updates: Sequence[CampaignUpdated] = stack.bus.of(CampaignUpdated, cid)
    return updates[-1] if updates and updates[-1].status is wanted else None
