"""What the campaign shows of sending, in the browser: the leads table's Sequence column ("Step 2 of 3" and the
next send) and the Analytics tab's charts (sent per day, the step funnel, the answers per day), totals and
reply and bounce rates per step and mailbox. The mailer's, the sequencer's, the inbox's and the gateway's
events are published to the stream as they would publish them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from contracts import AutoReplyDetected, EmailBounced, EmailSent, LeadUnsubscribed, ReplyDetected
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

    # Then the answers: lead 2 replies to step 1 on both days (one replier), lead 1 answers automatically,
    # then its step 2 soft-bounces and it unsubscribes; lead 3's address bounces at RCPT.
    def answer(cls: type[ReplyDetected | AutoReplyDetected], name: str, at: datetime) -> Event:
        return cls(
            **common,
            lead_id=ids[name],
            occurred_at=at,
            message_id=f"<{uuid.uuid4()}@charts-ui.example>",
            from_address=f"{name}@charts-ui.example",
            inbox_message_id=uuid.uuid4(),
            mailbox_id=uuid.UUID(int=7),
            step=1,
        )

    def bounced(name: str, kind: Any, source: Any, step: int) -> EmailBounced:
        return EmailBounced(
            **common,
            lead_id=ids[name],
            occurred_at=now,
            source=source,
            kind=kind,
            smtp_code=550,
            email=f"{name}@charts-ui.example",
            step=step,
            mailbox_id=uuid.UUID(int=7),
        )

    publish_events(
        stack.nats_url,
        [
            answer(ReplyDetected, "lead2", yesterday),
            answer(AutoReplyDetected, "lead1", yesterday),
            answer(ReplyDetected, "lead2", now),
            bounced("lead3", "hard", "smtp", 1),
            bounced("lead1", "soft", "dsn", 2),
            LeadUnsubscribed(
                **common,
                lead_id=ids["lead1"],
                occurred_at=now,
                email="lead1@charts-ui.example",
                source="link",
            ),
        ],
    )
    deadline = time.monotonic() + 30
    while sum(day["unsubscribes"] for day in analytics(api, campaign_id)["outcomes_per_day"]) < 1:
        assert time.monotonic() < deadline, analytics(api, campaign_id)
        time.sleep(0.2)

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

    # The answers per day, stacked: yesterday a reply and an auto-reply; today a reply, a hard and a soft
    # bounce and an unsubscribe.
    columns = page.locator("#outcomes-chart g.column")
    expect(columns).to_have_count(2)
    counts = ("total", "replies", "auto-replies", "hard-bounces", "soft-bounces", "unsubscribes")
    shown = [[columns.nth(i).get_attribute(f"data-{key}") for key in counts] for i in range(2)]
    assert shown == [["2", "1", "1", "0", "0", "0"], ["4", "1", "0", "1", "1", "1"]]
    assert columns.first.get_attribute("data-label") == yesterday.date().isoformat()[5:]
    expect(page.locator("#outcomes-chart g.part")).to_have_count(6)  # a part per series with a count
    expect(page.get_by_role("img", name="Replies, bounces and unsubscribes per day")).to_be_visible()
    # The rates: lead 2 counts once for step 1 (1 of 3 sent), lead 3's bounce too; nothing sent for step 3.
    by_step = page.locator("#rates-by-step tbody tr")
    expect(by_step).to_have_count(3)
    for row, cells in enumerate(
        [
            ["Step 1", "3", "1", "33.3%", "1", "33.3%"],
            ["Step 2", "1", "0", "0%", "0", "0%"],
            ["Step 3", "0", "0", "—", "0", "—"],
        ]
    ):
        expect(by_step.nth(row).locator("td")).to_have_text(cells)
    by_mailbox = page.locator("#rates-by-mailbox tbody tr")
    expect(by_mailbox).to_have_count(1)
    expect(by_mailbox.first.locator("td")).to_have_text(
        ["dana@charts-ui.example", "4", "1", "25%", "1", "25%"]
    )
    page.locator("#outcomes-per-day").evaluate("figure => figure.scrollIntoView()")
    screenshot(page, "campaign-analytics-answers")


def analytics(api: httpx.Client, campaign_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/campaigns/{campaign_id}/analytics")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
