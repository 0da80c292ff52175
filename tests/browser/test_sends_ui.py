"""A campaign's Sends tab in the browser: the mailer's sends listed and filtered by state, and uncertain sends
(the server cut the connection in DATA, so nobody knows whether they left) resolved by a person: "It was
sent" records one as sent, "Send again" delivers the other once more. The campaign's settings and its
StepDue are published to the stream as the sequencer would publish them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from contracts import CampaignUpdated
from contracts.campaign_settings import CampaignSettingsData, CampaignStatus, StepData
from contracts.events import Event, StepDue
from tests.browser.conftest import screenshot
from tests.browser.seed import create_campaign, publish_events
from tests.harness import ServiceStack
from tests.peers.submission import SubmissionServer

SENT, FIRST_CUT, SECOND_CUT = "ok@sends-ui.example", "cut1@sends-ui.example", "cut2@sends-ui.example"


def states(api: httpx.Client, campaign_id: str) -> dict[str, str]:
    listed = api.get(f"/api/v1/campaigns/{campaign_id}/sends")
    assert listed.status_code == 200, listed.text
    return {item["email"]: item["state"] for item in listed.json()["items"]}


def wait_for(api: httpx.Client, campaign_id: str, expected: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while (found := states(api, campaign_id)) != expected:
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def test_sends_are_listed_and_uncertain_ones_resolved(
    page: Page, api: httpx.Client, stack: ServiceStack, smtp_server: SubmissionServer
) -> None:
    campaign_id = create_campaign(api, "Sends in the browser")
    smtp_server.drop_in_data.update({FIRST_CUT, SECOND_CUT})
    smtp = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "username": smtp_server.username,
        "password": smtp_server.password,
        "security": "none",
    }
    created = api.post(
        "/api/v1/mailboxes",
        json={"email": "dana@sends-ui.example", "name": "Dana", "smtp": smtp, "min_gap_seconds": 0},
    )
    assert created.status_code == 201, created.text
    common: dict[str, Any] = {
        "workspace_id": uuid.UUID(api.get("/api/v1/workspace").json()["id"]),
        "campaign_id": uuid.UUID(campaign_id),
    }
    events: list[Event] = [
        CampaignUpdated(
            **common,
            status=CampaignStatus.ACTIVE,
            settings=CampaignSettingsData(mailbox_ids=[uuid.UUID(created.json()["id"])]),
            steps=[StepData(subject="Hello", body="Hi", delay_minutes=0)],
        )
    ]
    events += [
        StepDue(
            **common,
            lead_id=uuid.uuid4(),
            step=1,
            total_steps=1,
            due_at=datetime.now(UTC),
            email=email,
            subject="Hello",
            body="Hi",
        )
        for email in (SENT, FIRST_CUT, SECOND_CUT)
    ]
    publish_events(stack.nats_url, events)
    wait_for(api, campaign_id, {SENT: "sent", FIRST_CUT: "uncertain", SECOND_CUT: "uncertain"})
    smtp_server.drop_in_data.clear()  # the server takes whatever is sent again

    page.goto(f"/#/campaigns/{campaign_id}/sends")
    rows = page.locator("#sends tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#sends tr[data-state='sent']")).to_contain_text(SENT)
    page.select_option("#sends-state", "uncertain")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("uncertain")
    screenshot(page, "campaign-sends")

    page.get_by_role("button", name=f"It was sent to {FIRST_CUT}").click()
    page.get_by_role("dialog").get_by_role("button", name="It was sent").click()
    expect(rows).to_have_count(1)
    page.get_by_role("button", name=f"Send again to {SECOND_CUT}").click()
    page.get_by_role("dialog").get_by_role("button", name="Send again").click()
    expect(page.locator("#sends tbody td.empty")).to_have_text("No sends here yet.")

    wait_for(api, campaign_id, {SENT: "sent", FIRST_CUT: "sent", SECOND_CUT: "sent"})
    with smtp_server.lock:
        received = [to for message in smtp_server.received for to in message.rcpt_tos]
    # The first was taken once (cut) and only recorded; the second was taken again, whole.
    assert (received.count(FIRST_CUT), received.count(SECOND_CUT), received.count(SENT)) == (1, 2, 1)
    page.select_option("#sends-state", "")
    expect(page.locator("#sends tr[data-state='sent']")).to_have_count(3)
