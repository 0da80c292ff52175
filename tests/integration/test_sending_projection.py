"""The projection of sending on a real PostgreSQL: a lead's next step from the sequencer's LeadsScheduled
(newest fact wins, a sent step is never shown as next), the timeline entries of the mailer's and the
sequencer's events, and the per-day counts behind a campaign's analytics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import (
    EmailBounced,
    EmailSent,
    Event,
    LeadCompleted,
    LeadImported,
    LeadStatus,
    LeadStatusChanged,
    LeadUnsubscribed,
    parse_event,
)
from contracts.events import (
    CampaignCreated,
    ImportedLead,
    LeadsRemoved,
    LeadsScheduled,
    ScheduledLead,
    SendFailed,
    SendUncertain,
    StepDue,
    StepNotSendable,
)
from services.gateway.campaigns.analytics import analytics
from services.gateway.projection.consumer import apply_parked, project, project_batch
from services.gateway.tables import lead_events, lead_view, parked_events
from services.runtime.db import create_engine, session_factory

T0 = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
MAILBOX = uuid.UUID(int=9)


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database_url)
    yield engine
    await engine.dispose()


class Campaign:
    """A campaign of `n` imported leads in the read model, and events about them."""

    def __init__(self, engine: AsyncEngine, n: int) -> None:
        self.sessions = session_factory(engine=engine)
        self.workspace_id, self.campaign_id = uuid.uuid4(), uuid.uuid4()
        self.leads = [uuid.uuid4() for _ in range(n)]

    def ids(self, lead: int) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "campaign_id": self.campaign_id,
            "lead_id": self.leads[lead],
        }

    async def imported(self, *which: int) -> Campaign:
        """The campaign and its leads listed (only `which` of them, when given)."""
        created = CampaignCreated(
            workspace_id=self.workspace_id,
            campaign_id=self.campaign_id,
            name="Podzim",
            occurred_at=T0 - timedelta(days=2),
        )
        await self.project(created, self.listing(*which))
        return self

    def listing(self, *which: int) -> LeadImported:
        """The LeadImported of the campaign's leads (only `which` of them, when given)."""
        return LeadImported(
            workspace_id=self.workspace_id,
            campaign_id=self.campaign_id,
            import_id=uuid.uuid4(),
            chunk=0,
            occurred_at=T0 - timedelta(days=1),
            leads=[
                ImportedLead(lead_id=lead_id, email=f"lead{i}@firma.cz", row=i + 1)
                for i, lead_id in enumerate(self.leads)
                if not which or i in which
            ],
        )

    async def parked(self) -> list[tuple[uuid.UUID, str]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(parked_events.c.lead_id, parked_events.c.event).order_by(parked_events.c.seq)
            )
            return [(row.lead_id, parse_event(row.event).event_type) for row in rows]

    async def apply_parked(self) -> int:
        async with self.sessions() as session, session.begin():
            return await apply_parked(session)

    async def status(self, lead: int) -> str:
        async with self.sessions() as session:
            return str(
                await session.scalar(select(lead_view.c.status).where(lead_view.c.id == self.leads[lead]))
            )

    async def project(self, *events: Event) -> None:
        for event in events:
            async with self.sessions() as session, session.begin():
                await project(session, event)

    async def batch(self, *events: Event) -> None:
        async with self.sessions() as session, session.begin():
            await project_batch(session, list(events))

    def sent(self, lead: int, step: int, minutes: float, total: int = 3) -> EmailSent:
        return EmailSent(
            **self.ids(lead),
            occurred_at=T0 + timedelta(minutes=minutes),
            step=step,
            total_steps=total,
            message_id=f"<{uuid.uuid4()}@firma.cz>",
            mailbox="obchod@firma.cz",
            mailbox_id=MAILBOX,
            subject="Nabídka",
        )

    def scheduled(self, minutes: float, *leads: tuple[int, int, datetime | None]) -> LeadsScheduled:
        return LeadsScheduled(
            workspace_id=self.workspace_id,
            campaign_id=self.campaign_id,
            occurred_at=T0 + timedelta(minutes=minutes),
            leads=[
                ScheduledLead(lead_id=self.leads[lead], step=step, total_steps=3, due_at=due)
                for lead, step, due in leads
            ],
        )

    async def next_step(self, lead: int) -> tuple[int, int, int | None, datetime | None]:
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(
                        lead_view.c.step,
                        lead_view.c.total_steps,
                        lead_view.c.next_step,
                        lead_view.c.next_step_at,
                    ).where(lead_view.c.id == self.leads[lead])
                )
            ).one()
        return row.step, row.total_steps, row.next_step, row.next_step_at

    async def timeline(self, lead: int) -> list[tuple[str, str, dict[str, Any]]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(lead_events.c.event_type, lead_events.c.source, lead_events.c.data)
                .where(lead_events.c.lead_id == self.leads[lead], lead_events.c.event_type != "lead_imported")
                .order_by(lead_events.c.occurred_at, lead_events.c.id)
            )
            return [tuple(row) for row in rows]


DUE = T0 + timedelta(days=2)


async def test_the_next_step_is_the_newest_schedule_and_never_a_step_already_sent(
    engine: AsyncEngine,
) -> None:
    c = await Campaign(engine, 3).imported()
    await c.project(c.scheduled(1, (0, 1, DUE), (1, 1, None), (2, 1, DUE)))
    assert await c.next_step(0) == (0, 0, 1, DUE)
    assert await c.next_step(1) == (0, 0, 1, None)  # waiting for validation: the step, no time yet
    # Step 1 sent: no next step until the sequencer schedules step 2 ...
    await c.project(c.sent(0, 1, 10))
    assert await c.next_step(0) == (1, 3, None, None)
    await c.project(c.scheduled(11, (0, 2, DUE + timedelta(days=3))))
    assert await c.next_step(0) == (1, 3, 2, DUE + timedelta(days=3))
    # ... and an older schedule, or a send of an earlier step, delivered late, changes nothing.
    await c.project(c.scheduled(5, (0, 1, DUE)), c.sent(0, 1, 10))
    assert await c.next_step(0) == (1, 3, 2, DUE + timedelta(days=3))
    # A schedule arriving before the send of the step before it (redelivery order) is kept.
    await c.project(c.scheduled(21, (2, 2, DUE)), c.sent(2, 1, 20))
    assert await c.next_step(2) == (1, 3, 2, DUE)
    # A step that cannot be sent, or a send given up, ends the schedule; a later one starts it again.
    await c.project(
        StepNotSendable(
            **c.ids(2),
            occurred_at=T0 + timedelta(minutes=30),
            step=2,
            total_steps=3,
            missing=["company_name"],
        )
    )
    assert await c.next_step(2) == (1, 3, None, None)
    await c.project(c.scheduled(40, (2, 2, DUE)))
    assert await c.next_step(2) == (1, 3, 2, DUE)
    await c.project(c.sent(0, 3, 50), c.sent(0, 2, 45))  # a late step 2 never takes the step back
    assert await c.next_step(0) == (3, 3, None, None)


async def test_the_timeline_shows_each_sending_event_with_its_details_and_the_mailer_as_smtp_bounces_source(
    engine: AsyncEngine,
) -> None:
    c = await Campaign(engine, 1).imported()
    sent = c.sent(0, 1, 1)
    due = StepDue(
        **c.ids(0),
        occurred_at=T0,
        step=1,
        total_steps=3,
        due_at=T0,
        email="lead0@firma.cz",
        subject="Nabídka",
        body="Dobrý den",
    )
    at = T0 + timedelta(minutes=2)
    await c.batch(
        due,
        sent,
        SendUncertain(
            **c.ids(0),
            occurred_at=at,
            step=2,
            total_steps=3,
            message_id="<u@x>",
            mailbox_id=MAILBOX,
            mailbox="o@f.cz",
        ),
        SendFailed(
            **c.ids(0),
            occurred_at=at + timedelta(minutes=1),
            step=2,
            total_steps=3,
            reason="rejected",
            smtp_code=554,
            detail="5.7.1 spam",
        ),
        StepNotSendable(
            **c.ids(0), occurred_at=at + timedelta(minutes=2), step=3, total_steps=3, missing=["city"]
        ),
        LeadCompleted(**c.ids(0), occurred_at=at + timedelta(minutes=3), total_steps=3),
        EmailBounced(
            **c.ids(0),
            occurred_at=at + timedelta(minutes=4),
            source="smtp",
            kind="hard",
            smtp_code=550,
            email="lead0@firma.cz",
            step=1,
            message_id=sent.message_id,
            mailbox_id=MAILBOX,
        ),
    )
    entries = await c.timeline(0)
    assert [(kind, source) for kind, source, _ in entries] == [
        ("email_sent", "mailer"),
        ("send_uncertain", "mailer"),
        ("send_failed", "mailer"),
        ("step_not_sendable", "sequencer"),
        ("lead_completed", "sequencer"),
        ("email_bounced", "mailer"),
    ]
    details = [data for _, _, data in entries]
    assert details[0]["subject"] == "Nabídka" and details[0]["message_id"] == sent.message_id
    assert details[0]["mailbox"] == "obchod@firma.cz" and details[0]["step"] == 1
    assert details[1]["message_id"] == "<u@x>"
    assert (details[2]["reason"], details[2]["smtp_code"]) == ("rejected", 554)
    assert details[3]["missing"] == ["city"]
    assert (details[5]["source"], details[5]["smtp_code"]) == ("smtp", 550)


async def test_analytics_count_the_projected_sends_per_utc_day_and_the_funnel_by_highest_step(
    engine: AsyncEngine,
) -> None:
    c = await Campaign(engine, 4).imported()
    # T0 is 22:00 UTC: sends at +30 min fall on Dec 1, sends at +150 min on Dec 2.
    await c.batch(c.sent(0, 1, 30), c.sent(1, 1, 31), c.sent(2, 1, 32), c.sent(0, 2, 150))
    await c.project(c.sent(0, 3, 151), c.sent(1, 2, 152))
    bounce = {"source": "smtp", "kind": "hard", "smtp_code": 550, "email": "lead2@firma.cz"}
    await c.project(
        LeadCompleted(**c.ids(0), occurred_at=T0 + timedelta(minutes=152), total_steps=3),
        EmailBounced(**c.ids(2), occurred_at=T0 + timedelta(minutes=153), **bounce),
        # The same lead's DSN a moment later: one bounced lead, not two.
        EmailBounced(**c.ids(2), occurred_at=T0 + timedelta(minutes=160), **{**bounce, "source": "dsn"}),
        LeadUnsubscribed(
            **c.ids(1), occurred_at=T0 + timedelta(minutes=170), email="lead1@firma.cz", source="link"
        ),
    )
    async with c.sessions() as session:
        found = await analytics(session, c.workspace_id, c.campaign_id, steps=4, leads=4)
        unknown_length = await analytics(session, c.workspace_id, c.campaign_id, steps=None, leads=4)
    assert found.model_dump(mode="json") == {
        "campaign_id": str(c.campaign_id),
        "sent_per_day": [{"date": "2026-12-01", "sent": 3}, {"date": "2026-12-02", "sent": 3}],
        "funnel": [
            {"step": 1, "leads": 3},
            {"step": 2, "leads": 2},
            {"step": 3, "leads": 1},
            {"step": 4, "leads": 0},
        ],
        "totals": {"sent": 6, "leads": 4, "completed": 1, "bounced": 1, "unsubscribed": 1},
        # Two bounce reports (the mailer's, the DSN) that name no step: counted per day, in no step's rate.
        "outcomes_per_day": [
            {
                "date": "2026-12-02",
                "replies": 0,
                "auto_replies": 0,
                "hard_bounces": 2,
                "soft_bounces": 0,
                "unsubscribes": 1,
            }
        ],
        "by_step": [
            {"step": step, "sent": sent, "replies": 0, "bounces": 0, "reply_rate": r, "bounce_rate": r}
            for step, sent, r in [(1, 3, 0.0), (2, 2, 0.0), (3, 1, 0.0), (4, 0, None)]
        ],
        "by_mailbox": [
            {
                "mailbox_id": str(MAILBOX),
                "mailbox": "obchod@firma.cz",
                "sent": 6,
                "replies": 0,
                "bounces": 0,
                "reply_rate": 0.0,
                "bounce_rate": 0.0,
            }
        ],
    }
    assert [step.step for step in unknown_length.funnel] == [1, 2, 3]  # the sends' total_steps


async def test_events_about_leads_not_listed_yet_are_parked_and_applied_once_they_are(
    engine: AsyncEngine,
) -> None:
    # Leads 0 and 1 are listed; 2 and 3 are not yet (their LeadImported is late: subjects are not ordered).
    c = await Campaign(engine, 4).imported(0, 1)
    unlisted = c.leads[2]
    await c.project(c.scheduled(1, (0, 1, DUE), (2, 1, DUE)))  # a schedule naming both kinds
    await c.batch(c.sent(2, 1, 5), c.sent(0, 1, 5))  # a run of lead events naming both kinds
    await c.project(c.sent(3, 1, 6))  # one lead event on its own
    await c.project(
        LeadStatusChanged(
            workspace_id=c.workspace_id,
            campaign_id=c.campaign_id,
            occurred_at=T0 + timedelta(minutes=7),
            lead_ids=[c.leads[1], c.leads[3]],
            status=LeadStatus.COMPLETED,
            changed_by="eva",
        )
    )
    # What concerns the listed leads is applied at once; the rest waits, each narrowed to its lead.
    assert await c.next_step(0) == (1, 3, None, None)
    assert await c.status(1) == "completed"
    assert await c.parked() == [
        (unlisted, "leads_scheduled"),
        (unlisted, "email_sent"),
        (c.leads[3], "email_sent"),
        (c.leads[3], "lead_status_changed"),
    ]
    assert await c.apply_parked() == 0  # nothing listed since

    # Lead 2 is listed: its parked events are applied, in the order they arrived, as lead 0's were.
    await c.project(c.listing(2))
    assert await c.apply_parked() == 2
    assert await c.next_step(2) == await c.next_step(0) == (1, 3, None, None)
    assert await c.status(2) == await c.status(0) == "contacted"
    assert [entry[0] for entry in await c.timeline(2)] == [entry[0] for entry in await c.timeline(0)]
    assert [entry[0] for entry in await c.timeline(2)] == ["email_sent"]
    assert await c.apply_parked() == 0  # applied once

    # Lead 3 is listed and removed before a pass: what waited for it is dropped, not applied.
    await c.project(
        c.listing(3),
        LeadsRemoved(
            workspace_id=c.workspace_id,
            campaign_id=c.campaign_id,
            occurred_at=T0 + timedelta(minutes=8),
            lead_ids=[c.leads[3]],
            removed_by="eva",
        ),
    )
    assert await c.apply_parked() == 0
    assert await c.parked() == []


async def test_an_event_about_a_removed_lead_is_skipped_not_parked(engine: AsyncEngine) -> None:
    c = await Campaign(engine, 2).imported()
    await c.project(
        LeadsRemoved(
            workspace_id=c.workspace_id,
            campaign_id=c.campaign_id,
            occurred_at=T0,
            lead_ids=[c.leads[1]],
            removed_by="eva",
        ),
        c.scheduled(2, (0, 1, DUE), (1, 1, DUE)),
        c.sent(1, 1, 3),
    )
    await c.batch(c.sent(1, 1, 4), c.sent(0, 1, 4))
    assert await c.next_step(0) == (1, 3, None, None)
    assert await c.parked() == []
