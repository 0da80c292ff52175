"""A campaign's answers in its analytics on a real PostgreSQL: replies, auto-replies, bounces and unsubscribes
per UTC day, and the reply and bounce rates per step and per mailbox, as the projection records them from
the inbox's, the mailer's and the gateway's events (one by one and in batches, redelivered, reclassified)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import (
    AutoReplyDetected,
    EmailBounced,
    EmailSent,
    Event,
    InboundReclassified,
    LeadUnsubscribed,
    ReplyDetected,
)
from contracts.events import LeadsRemoved
from services.gateway.campaigns.analytics import analytics
from services.gateway.tables import campaign_responses, campaign_sends
from services.runtime.db import create_engine
from tests.integration.test_sending_projection import T0, Campaign

ADAM, BARA = uuid.UUID(int=21), uuid.UUID(int=22)  # two mailboxes
ADDRESS = {ADAM: "adam@firma.cz", BARA: "bara@firma.cz"}


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database_url)
    yield engine
    await engine.dispose()


def sent(c: Campaign, lead: int, step: int, mailbox: uuid.UUID, minutes: float) -> EmailSent:
    return EmailSent(
        **c.ids(lead),
        occurred_at=T0 + timedelta(minutes=minutes),
        step=step,
        total_steps=2,
        message_id=f"<{uuid.uuid4()}@firma.cz>",
        mailbox=ADDRESS[mailbox],
        mailbox_id=mailbox,
    )


def inbound(
    cls: type[ReplyDetected | AutoReplyDetected],
    c: Campaign,
    lead: int,
    step: int,
    mailbox: uuid.UUID,
    minutes: float,
    message: uuid.UUID | None = None,
) -> ReplyDetected | AutoReplyDetected:
    return cls(
        **c.ids(lead),
        occurred_at=T0 + timedelta(minutes=minutes),
        message_id=f"<{uuid.uuid4()}@lead.cz>",
        from_address=f"lead{lead}@firma.cz",
        inbox_message_id=message or uuid.uuid4(),
        mailbox_id=mailbox,
        step=step,
    )


def bounce(
    c: Campaign, lead: int, kind: str, source: str, minutes: float, message: uuid.UUID | None = None
) -> EmailBounced:
    return EmailBounced(
        **c.ids(lead),
        occurred_at=T0 + timedelta(minutes=minutes),
        source=source,
        kind=kind,
        smtp_code=550 if kind == "hard" else 452,
        email=f"lead{lead}@firma.cz",
        step=1,
        mailbox_id=BARA,
        inbox_message_id=message,
    )


def unsubscribed(c: Campaign, lead: int, minutes: float, source: Any = "link") -> LeadUnsubscribed:
    return LeadUnsubscribed(
        **c.ids(lead),
        occurred_at=T0 + timedelta(minutes=minutes),
        email=f"lead{lead}@firma.cz",
        source=source,
    )


def day(
    date: str, replies: int = 0, auto: int = 0, hard: int = 0, soft: int = 0, unsub: int = 0
) -> dict[str, Any]:
    return {
        "date": date,
        "replies": replies,
        "auto_replies": auto,
        "hard_bounces": hard,
        "soft_bounces": soft,
        "unsubscribes": unsub,
    }


def rates(sent: int, replies: int, bounces: int, reply_rate: Any, bounce_rate: Any) -> dict[str, Any]:
    return {
        "sent": sent,
        "replies": replies,
        "bounces": bounces,
        "reply_rate": reply_rate,
        "bounce_rate": bounce_rate,
    }


async def answers_of(c: Campaign, steps: int = 2) -> dict[str, Any]:
    async with c.sessions() as session:
        found = await analytics(session, c.workspace_id, c.campaign_id, steps=steps, leads=len(c.leads))
    body = found.model_dump(mode="json")
    return {key: body[key] for key in ("outcomes_per_day", "by_step", "by_mailbox")}


async def test_replies_bounces_and_unsubscribes_per_day_and_the_rates_per_step_and_mailbox(
    engine: AsyncEngine,
) -> None:
    c = await Campaign(engine, 5).imported()
    # T0 is 22:00 UTC, Dec 1. Step 1 to every lead (Adam's mailbox for leads 0-1, Bára's for 2-4), step 2
    # to lead 0; a batch, as the consumer applies a fetch.
    await c.batch(
        sent(c, 0, 1, ADAM, 1),
        sent(c, 1, 1, ADAM, 2),
        sent(c, 2, 1, BARA, 3),
        sent(c, 3, 1, BARA, 4),
        sent(c, 4, 1, BARA, 5),
        sent(c, 0, 2, ADAM, 130),
    )
    first_reply = inbound(ReplyDetected, c, 0, 1, ADAM, 30)
    soft = uuid.uuid4()
    await c.project(
        first_reply,
        # Lead 0 writes to step 1 again the next day: two replies that day and the one before, one replier.
        inbound(ReplyDetected, c, 0, 1, ADAM, 140),
        inbound(AutoReplyDetected, c, 1, 1, ADAM, 31),
        # Lead 2's address bounces at RCPT, then its DSN arrives: two reports, one bounced lead of step 1.
        bounce(c, 2, "hard", "smtp", 32),
        bounce(c, 2, "hard", "dsn", 150, message=uuid.uuid4()),
        bounce(c, 3, "soft", "dsn", 33, message=soft),
        unsubscribed(c, 1, 160),
        unsubscribed(c, 1, 161, "one_click"),  # the same lead again: one unsubscribe
    )
    # A redelivered reply (the consumer's retry after a lost commit answer) adds nothing.
    await c.project(first_reply)
    await c.batch(first_reply)
    assert await answers_of(c) == {
        "outcomes_per_day": [
            day("2026-12-01", replies=1, auto=1, hard=1, soft=1),
            day("2026-12-02", replies=1, hard=1, unsub=1),
        ],
        "by_step": [
            {"step": 1, **rates(5, 1, 1, 20.0, 20.0)},
            {"step": 2, **rates(1, 0, 0, 0.0, 0.0)},
        ],
        "by_mailbox": [
            {"mailbox_id": str(ADAM), "mailbox": "adam@firma.cz", **rates(3, 1, 0, 33.3, 0.0)},
            {"mailbox_id": str(BARA), "mailbox": "bara@firma.cz", **rates(3, 0, 1, 0.0, 33.3)},
        ],
    }

    # A person finds lead 3's "soft bounce" is a reply (the Unibox): the inbox emits InboundReclassified
    # and the reply, both now; the message moves from soft bounces to replies, on the day it arrived.
    await c.batch(
        InboundReclassified(
            **c.ids(3),
            occurred_at=T0 + timedelta(days=3),
            inbox_message_id=soft,
            from_kind="soft_bounce",
            to_kind="reply",
            by="eva",
        ),
        inbound(ReplyDetected, c, 3, 1, BARA, 60 * 24 * 3 + 0.1, message=soft),
    )
    found = await answers_of(c)
    assert found["outcomes_per_day"][0] == day("2026-12-01", replies=2, auto=1, hard=1)
    assert found["by_step"][0] == {"step": 1, **rates(5, 2, 1, 40.0, 20.0)}
    assert found["by_mailbox"][1] == {
        "mailbox_id": str(BARA),
        "mailbox": "bara@firma.cz",
        **rates(3, 1, 1, 33.3, 33.3),
    }

    # Removing a lead keeps what it did in the campaign's history; events about it after that add nothing.
    await c.project(
        LeadsRemoved(
            workspace_id=c.workspace_id,
            campaign_id=c.campaign_id,
            occurred_at=T0 + timedelta(days=4),
            lead_ids=[c.leads[4]],
            removed_by="eva",
        ),
        inbound(ReplyDetected, c, 4, 1, BARA, 60 * 24 * 4 + 1),
        sent(c, 4, 2, BARA, 60 * 24 * 4 + 2),
    )
    assert await answers_of(c) == found


async def test_answers_without_a_step_or_mailbox_count_per_day_only_and_steps_without_sends_have_no_rate(
    engine: AsyncEngine,
) -> None:
    c = await Campaign(engine, 2).imported()
    # An unlinked step (a DSN the inbox tied to the lead by its address only) and no sends projected yet.
    await c.project(
        EmailBounced(
            **c.ids(0), occurred_at=T0, source="dsn", kind="hard", smtp_code=550, email="lead0@firma.cz"
        ),
        inbound(ReplyDetected, c, 1, 3, ADAM, 1),
    )
    assert await answers_of(c, steps=2) == {
        "outcomes_per_day": [day("2026-12-01", replies=1, hard=1)],
        # Step 3 is named by the reply, beyond the sequence's 2 steps; nothing was sent: no rate, not 0 %.
        "by_step": [{"step": step, **rates(0, int(step == 3), 0, None, None)} for step in (1, 2, 3)],
        "by_mailbox": [{"mailbox_id": str(ADAM), "mailbox": None, **rates(0, 1, 0, None, None)}],
    }


async def test_the_analytics_of_a_campaign_are_its_own(engine: AsyncEngine) -> None:
    """Two campaigns' answers and sends never mix, and another workspace asking sees nothing."""
    a, b = await Campaign(engine, 1).imported(), await Campaign(engine, 1).imported()
    shared: list[Event] = []
    for c in (a, b):
        shared += [sent(c, 0, 1, ADAM, 1), inbound(ReplyDetected, c, 0, 1, ADAM, 2)]
    await a.batch(*shared)
    assert (await answers_of(a))["by_step"][0] == (await answers_of(b))["by_step"][0]
    assert (await answers_of(a))["by_step"][0] == {"step": 1, **rates(1, 1, 0, 100.0, 0.0)}
    async with a.sessions() as session:
        other = await analytics(session, uuid.uuid4(), a.campaign_id, steps=1, leads=0)
        stored = await session.scalar(
            select(func.count())
            .select_from(campaign_responses)
            .where(campaign_responses.c.campaign_id == a.campaign_id)
        )
        sends = await session.scalar(
            select(func.sum(campaign_sends.c.sent)).where(campaign_sends.c.campaign_id == a.campaign_id)
        )
    assert (other.outcomes_per_day, other.by_mailbox, stored, sends) == ([], [], 1, 1)
