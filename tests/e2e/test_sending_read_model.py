"""What the leads list, a lead's timeline and a campaign's analytics show of sending, end to end: the
mailer's, the sequencer's and the inbox's events, published to the stream as they would publish them,
projected by the running gateway and read through the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from nats.aio.client import Client

from contracts import AutoReplyDetected, EmailBounced, EmailSent, Event, LeadUnsubscribed, ReplyDetected
from contracts.events import LeadsScheduled, ScheduledLead
from tests.e2e.api import create_campaign, start_import, wait_for_import, wait_for_leads, workspace_id_of
from tests.harness import eventually

CSV = "email;Jméno\nadam@odeslano.cz;Adam\nbara@odeslano.cz;Bára\ncyril@odeslano.cz;Cyril\n"
STEPS = [{"subject": "Dobrý den", "body": "Text {{first_name|there}}", "delay_minutes": 60}] * 3


def iso(at: datetime) -> str:
    """A time as the API writes it."""
    return at.isoformat().replace("+00:00", "Z")


async def _publish(nc: Client, *events: Event) -> None:
    for event in events:
        await nc.jetstream().publish(
            event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
        )


async def test_sends_and_schedules_show_in_the_leads_list_the_timeline_and_the_analytics(
    client: httpx.AsyncClient, nc: Client
) -> None:
    campaign_id = await create_campaign(client, "sending read model")
    assert (
        await client.put(f"/api/v1/campaigns/{campaign_id}/sequence", json={"steps": STEPS})
    ).status_code == 200
    started = await start_import(client, campaign_id, CSV.encode(), {"email": "email", "first_name": "Jméno"})
    await wait_for_import(client, started["id"])
    leads = {
        lead["email"].split("@")[0]: lead for lead in (await wait_for_leads(client, campaign_id, 3))["items"]
    }
    workspace_id = await workspace_id_of(client)
    ids = {name: UUID(lead["id"]) for name, lead in leads.items()}
    common: dict[str, Any] = {"workspace_id": workspace_id, "campaign_id": UUID(campaign_id)}
    now = datetime.now(UTC)
    # Schedules dated ahead of anything the stack's own sequencer could emit meanwhile, so they stay newest.
    ahead = now + timedelta(days=1)
    due_1, due_3 = now + timedelta(hours=5), now + timedelta(days=3)

    def sent(name: str, step: int) -> EmailSent:
        return EmailSent(
            **common,
            lead_id=ids[name],
            occurred_at=now,
            step=step,
            total_steps=3,
            message_id=f"<{uuid.uuid4()}@odeslano.cz>",
            mailbox="obchod@firma.cz",
            mailbox_id=uuid.UUID(int=5),
            subject="Dobrý den",
        )

    await _publish(
        nc,
        LeadsScheduled(
            **common,
            occurred_at=ahead,
            leads=[
                ScheduledLead(lead_id=ids[n], step=1, total_steps=3, due_at=due_1)
                for n in ("adam", "bara", "cyril")
            ],
        ),
        sent("adam", 1),
        sent("bara", 1),
        sent("adam", 2),
        LeadsScheduled(
            **common,
            occurred_at=ahead + timedelta(hours=1),
            leads=[ScheduledLead(lead_id=ids["adam"], step=3, total_steps=3, due_at=due_3)],
        ),
    )

    async def listed() -> dict[str, dict[str, Any]] | None:
        page = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads")).json()
        found = {item["email"].split("@")[0]: item for item in page["items"]}
        if found["adam"]["next_step"] != 3 or found["bara"]["sequence"] is None:
            return None
        return found

    found = await eventually(listed)
    shown = {
        name: (
            item["status"],
            item["step"],
            item["total_steps"],
            item["sequence"],
            item["next_step"],
            item["next_step_at"],
        )
        for name, item in found.items()
    }
    # The stack's own sequencer consumes these EmailSent too: it schedules bara's step 2 at the send plus
    # the step's delay (60 minutes), shown once it has and nothing before (its schedules are older than
    # the test's for adam and cyril, which stay).
    assert shown.pop("bara") in {
        ("contacted", 1, 3, "Step 1 of 3", None, None),
        ("contacted", 1, 3, "Step 1 of 3", 2, iso(now + timedelta(minutes=60))),
    }
    assert shown == {
        "adam": ("contacted", 2, 3, "Step 2 of 3", 3, iso(due_3)),
        "cyril": ("pending", 0, 0, None, 1, iso(due_1)),
    }

    # Bára's address bounces at RCPT: the mailer's bounce, shown as the mailer's; her next send is gone.
    await _publish(
        nc,
        EmailBounced(
            **common,
            lead_id=ids["bara"],
            occurred_at=now + timedelta(seconds=1),
            source="smtp",
            kind="hard",
            smtp_code=550,
            diagnostic="5.1.1 User unknown",
            email="bara@odeslano.cz",
            step=1,
            mailbox_id=uuid.UUID(int=5),
        ),
    )

    async def analytics() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/v1/campaigns/{campaign_id}/analytics")).json()
        return body if body["totals"]["bounced"] == 1 else None

    no_answers = {"replies": 0, "auto_replies": 0, "soft_bounces": 0, "unsubscribes": 0}
    assert await eventually(analytics) == {
        "campaign_id": campaign_id,
        "sent_per_day": [{"date": now.date().isoformat(), "sent": 3}],
        "funnel": [{"step": 1, "leads": 2}, {"step": 2, "leads": 1}, {"step": 3, "leads": 0}],
        "totals": {"sent": 3, "leads": 3, "completed": 0, "bounced": 1, "unsubscribed": 0},
        "outcomes_per_day": [
            {"date": (now + timedelta(seconds=1)).date().isoformat(), "hard_bounces": 1, **no_answers}
        ],
        "by_step": [
            {"step": 1, "sent": 2, "replies": 0, "bounces": 1, "reply_rate": 0.0, "bounce_rate": 50.0},
            {"step": 2, "sent": 1, "replies": 0, "bounces": 0, "reply_rate": 0.0, "bounce_rate": 0.0},
            {"step": 3, "sent": 0, "replies": 0, "bounces": 0, "reply_rate": None, "bounce_rate": None},
        ],
        "by_mailbox": [
            {
                "mailbox_id": str(uuid.UUID(int=5)),
                "mailbox": "obchod@firma.cz",
                "sent": 3,
                "replies": 0,
                "bounces": 1,
                "reply_rate": 0.0,
                "bounce_rate": 33.3,
            }
        ],
    }
    bara = (await client.get(f"/api/v1/leads/{ids['bara']}")).json()
    assert bara["status"] == "bounced" and bara["next_step_at"] is None
    assert [(e["type"], e["source"]) for e in bara["timeline"][1:]] == [
        ("email_sent", "mailer"),
        ("email_bounced", "mailer"),
    ]
    assert bara["timeline"][1]["summary"]["subject"] == "Dobrý den"
    assert (await client.get(f"/api/v1/campaigns/{uuid.uuid4()}/analytics")).status_code == 404


async def test_replies_bounces_and_unsubscribes_show_in_the_analytics_per_day_step_and_mailbox(
    client: httpx.AsyncClient, nc: Client
) -> None:
    campaign_id = await create_campaign(client, "answers in the analytics")
    csv = "email\ndana@odpovedi.cz\nemil@odpovedi.cz\nfilip@odpovedi.cz\n"
    started = await start_import(client, campaign_id, csv.encode(), {"email": "email"})
    await wait_for_import(client, started["id"])
    leads = (await wait_for_leads(client, campaign_id, 3))["items"]
    ids = {lead["email"].split("@")[0]: UUID(lead["id"]) for lead in leads}
    common: dict[str, Any] = {"workspace_id": await workspace_id_of(client), "campaign_id": UUID(campaign_id)}
    mailbox = uuid.uuid4()
    now = datetime.now(UTC).replace(hour=12)  # midday: every answer falls on the same UTC day

    def answer(cls: type[ReplyDetected | AutoReplyDetected], name: str) -> ReplyDetected | AutoReplyDetected:
        return cls(
            **common,
            lead_id=ids[name],
            occurred_at=now,
            message_id=f"<{uuid.uuid4()}@odpovedi.cz>",
            from_address=f"{name}@odpovedi.cz",
            inbox_message_id=uuid.uuid4(),
            mailbox_id=mailbox,
            step=1,
        )

    await _publish(
        nc,
        *(
            EmailSent(
                **common,
                lead_id=ids[name],
                occurred_at=now,
                step=1,
                total_steps=1,
                message_id=f"<{uuid.uuid4()}@odpovedi.cz>",
                mailbox="ucet@odpovedi.cz",
                mailbox_id=mailbox,
            )
            for name in ids
        ),
        # Dana writes twice: two replies that day, one lead of step 1 that replied.
        answer(ReplyDetected, "dana"),
        answer(ReplyDetected, "dana"),
        answer(AutoReplyDetected, "emil"),
        EmailBounced(
            **common,
            lead_id=ids["filip"],
            occurred_at=now,
            source="dsn",
            kind="soft",
            smtp_code=452,
            email="filip@odpovedi.cz",
            step=1,
            mailbox_id=mailbox,
            inbox_message_id=uuid.uuid4(),
        ),
        LeadUnsubscribed(
            **common, lead_id=ids["emil"], occurred_at=now, email="emil@odpovedi.cz", source="link"
        ),
    )

    async def analytics() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/v1/campaigns/{campaign_id}/analytics")).json()
        days = body["outcomes_per_day"]
        return body if body["totals"]["sent"] == 3 and days and days[0]["unsubscribes"] == 1 else None

    body = await eventually(analytics)
    assert body["outcomes_per_day"] == [
        {
            "date": now.date().isoformat(),
            "replies": 2,
            "auto_replies": 1,
            "hard_bounces": 0,
            "soft_bounces": 1,
            "unsubscribes": 1,
        }
    ]
    rates = {"sent": 3, "replies": 1, "bounces": 0, "reply_rate": 33.3, "bounce_rate": 0.0}
    assert body["by_step"] == [{"step": 1, **rates}]
    assert body["by_mailbox"] == [{"mailbox_id": str(mailbox), "mailbox": "ucet@odpovedi.cz", **rates}]
