"""What the campaign shows of sending, in the browser: the leads table's Sequence column ("Step 2 of 3" and the
next send) and the Analytics tab's charts (sent per day, the step funnel) and totals. The mailer's and the
sequencer's events are published to the stream as they would publish them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from contracts import EmailSent
from contracts.events import Event, LeadsScheduled, ScheduledLead
from tests.browser.conftest import screenshot
from tests.browser.seed import create_campaign, import_csv, publish_events, wait_for_leads
from tests.harness import ServiceStack

STEPS = [
    {"subject": "Quick question", "body": "Hi {{first_name|there}}", "delay_minutes": 0},
    {"subject": "", "body": "Following up", "delay_minutes": 2880},
    {"subject": "", "body": "Last one", "delay_minutes": 4320},
]
CSV = "email,first_name,company\n" + "".join(
    f"lead{n}@charts-ui.example,Lead {n},Firma {n}\n" for n in range(1, 5)
)


def test_the_sequence_column_and_the_analytics_charts(
    page: Page, api: httpx.Client, stack: ServiceStack
) -> None:
    campaign_id = create_campaign(api, "Charted in the browser")
    assert api.put(f"/api/v1/campaigns/{campaign_id}/sequence", json={"steps": STEPS}).status_code == 200
    import_csv(
        api, campaign_id, CSV, {"email": "email", "first_name": "first_name", "company_name": "company"}
    )
    ids = {
        item["email"].split("@")[0]: uuid.UUID(item["id"])
        for item in wait_for_leads(api, campaign_id, 4)["items"]
    }
    common: dict[str, Any] = {
        "workspace_id": uuid.UUID(api.get("/api/v1/workspace").json()["id"]),
        "campaign_id": uuid.UUID(campaign_id),
    }
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)

    def sent(name: str, step: int, at: datetime) -> EmailSent:
        return EmailSent(
            **common,
            lead_id=ids[name],
            occurred_at=at,
            step=step,
            total_steps=3,
            message_id=f"<{uuid.uuid4()}@charts-ui.example>",
            mailbox="dana@charts-ui.example",
            mailbox_id=uuid.UUID(int=7),
            subject="Quick question",
        )

    # Dated ahead of anything the stack's own sequencer could emit meanwhile, so they stay the newest.
    ahead = now + timedelta(days=1)
    events: list[Event] = [
        sent("lead1", 1, yesterday),
        sent("lead2", 1, yesterday),
        sent("lead3", 1, now),
        sent("lead1", 2, now),
        LeadsScheduled(
            **common,
            occurred_at=ahead,
            leads=[
                ScheduledLead(
                    lead_id=ids["lead1"], step=3, total_steps=3, due_at=now + timedelta(days=3, minutes=5)
                ),
                ScheduledLead(
                    lead_id=ids["lead4"], step=1, total_steps=3, due_at=now + timedelta(hours=5, minutes=5)
                ),
            ],
        ),
    ]
    publish_events(stack.nats_url, events)

    page.goto(f"/#/campaigns/{campaign_id}")
    first = page.locator("#leads tbody tr", has_text="lead1@charts-ui.example")
    expect(first.locator("td.sequence")).to_have_text("Step 2 of 3Next: step 3 in 3 days")
    fourth = page.locator("#leads tbody tr", has_text="lead4@charts-ui.example")
    expect(fourth.locator("td.sequence")).to_have_text("—Next: step 1 in 5 h")
    # Its step 2 is scheduled by the stack's own sequencer (from the EmailSent above) once that one runs.
    third = page.locator("#leads tbody tr", has_text="lead3@charts-ui.example")
    expect(third.locator("td.sequence .step")).to_have_text("Step 1 of 3")
    screenshot(page, "leads-sequence-column")

    page.get_by_role("link", name="Analytics").click()
    totals = page.locator("#analytics-totals")
    expect(totals.locator("[data-total=sent] b")).to_have_text("4")
    expect(totals.locator("[data-total=leads] b")).to_have_text("4")
    days = page.locator("#sent-chart g.bar")
    expect(days).to_have_count(2)
    assert [days.nth(i).get_attribute("data-value") for i in range(2)] == ["2", "2"]
    assert days.first.get_attribute("data-label") == yesterday.date().isoformat()[5:]
    funnel = page.locator("#funnel-chart g.bar")
    expect(funnel).to_have_count(3)
    assert [funnel.nth(i).get_attribute("data-value") for i in range(3)] == ["3", "1", "0"]
    expect(page.locator("#funnel-chart")).to_contain_text("33% of step 1")
    expect(page.get_by_role("img", name="Leads reaching each step")).to_be_visible()
    page.locator("#step-funnel").get_by_text("Show as a table").click()
    expect(page.locator("#step-funnel table tbody tr")).to_have_count(3)
    screenshot(page, "campaign-analytics")
