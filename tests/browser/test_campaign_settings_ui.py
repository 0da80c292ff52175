"""A campaign's Schedule & sending form and its status in the browser: settings saved through PATCH (a
refused one marked at its field), Activate refused with every reason (409), then Activate, Pause, Resume."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.seed import create_campaign
from tests.peers.submission import SubmissionServer


def add_mailbox(api: httpx.Client, email: str, server: SubmissionServer, password: str | None = None) -> str:
    created = api.post(
        "/api/v1/mailboxes",
        json={
            "email": email,
            "name": "Settings UI",
            "smtp": {
                "host": server.host,
                "port": server.port,
                "username": server.username,
                "password": server.password if password is None else password,
                "security": "none",
            },
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_the_schedule_and_sending_settings_are_saved_and_refusals_marked(
    page: Page, api: httpx.Client, smtp_server: SubmissionServer
) -> None:
    campaign_id = create_campaign(api, "Scheduled in the browser")
    mailbox_id = add_mailbox(api, "scheduler@settings-ui.example", smtp_server)
    page.goto(f"/#/campaigns/{campaign_id}/settings")
    expect(page.get_by_label("Any time, any day")).to_be_checked()
    page.get_by_label("Any time, any day").uncheck()
    page.get_by_label("Time zone").fill("Mars/Base")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-error")).to_contain_text("schedule.timezone")
    expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Time zone").fill("Europe/Prague")
    for day in ("Thu", "Fri"):
        page.get_by_label(day, exact=True).uncheck()
    page.get_by_label("From", exact=True).fill("08:30")
    page.get_by_label("To (24:00 = end of day)").fill("24:00")
    page.get_by_label("Settings UI <scheduler@settings-ui.example>").check()
    page.get_by_label("Campaign daily limit (emails a day; empty: none)").fill("50")
    page.get_by_label("Also send to addresses the verification could not confirm (Unknown)").uncheck()
    page.get_by_label("Also stop every lead of the same company domain when one of them replies").check()
    # A sample larger than its window is refused, and the field marked.
    page.get_by_label("Judged from … sends on").fill("500")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-error")).to_contain_text("bounce_protection.min_sample")
    expect(page.get_by_label("Judged from … sends on")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Bounce rate limit (%)").fill("3")
    page.get_by_label("Over the last … sends").fill("200")
    page.get_by_label("Judged from … sends on").fill("40")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#toast")).to_have_text("Settings saved.")
    expect(page.locator("#settings-error")).to_be_empty()
    screenshot(page, "campaign-settings")

    settings = api.get(f"/api/v1/campaigns/{campaign_id}").json()["settings"]
    assert settings == {
        "schedule": {
            "timezone": "Europe/Prague",
            "days": ["mon", "tue", "wed"],
            "from": "08:30",
            "to": "24:00",
        },
        "mailbox_ids": [mailbox_id],
        "daily_limit": 50,
        "stop_on_reply": True,
        "stop_on_company_reply": True,
        "wait_for_validation": True,
        "send_to_unknown": False,
        "bounce_protection": {"enabled": True, "threshold_percent": 3, "window": 200, "min_sample": 40},
    }
    page.reload()
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Prague")
    expect(page.get_by_label("Over the last … sends")).to_have_value("200")
    expect(page.get_by_label("Thu", exact=True)).not_to_be_checked()
    expect(page.get_by_label("Settings UI <scheduler@settings-ui.example>")).to_be_checked()

    page.get_by_label("Campaign daily limit (emails a day; empty: none)").fill("")
    page.get_by_label("Any time, any day").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#toast")).to_have_text("Settings saved.")
    cleared = api.get(f"/api/v1/campaigns/{campaign_id}").json()["settings"]
    assert (cleared["schedule"], cleared["daily_limit"]) == (None, None)


def test_activate_shows_every_reason_then_pause_and_resume(
    page: Page, api: httpx.Client, smtp_server: SubmissionServer
) -> None:
    campaign_id = create_campaign(api, "Started in the browser")
    page.goto(f"/#/campaigns/{campaign_id}")
    expect(page.locator("#campaign-state")).to_have_text("Draft")
    page.get_by_role("button", name="Activate").click()
    refused = page.locator("#campaign-refused")
    expect(refused).to_contain_text("The campaign cannot start yet:")
    expect(refused.locator("li")).to_have_text(
        ["the campaign has no steps: save a sequence first", "the campaign has no mailbox to send from"]
    )
    expect(page.locator("#campaign-state")).to_have_text("Draft")
    screenshot(page, "campaign-activate-refused")

    # A mailbox whose login fails: the gateway tests it before activating, and says why.
    broken = add_mailbox(api, "broken@settings-ui.example", smtp_server, password="not the password")
    steps = [{"subject": "Hello", "body": "Hi there", "delay_minutes": 0}]
    assert api.put(f"/api/v1/campaigns/{campaign_id}/sequence", json={"steps": steps}).status_code == 200
    assert api.patch(f"/api/v1/campaigns/{campaign_id}", json={"mailbox_ids": [broken]}).status_code == 200
    page.get_by_role("button", name="Activate").click()
    expect(refused.locator("li")).to_have_count(1)
    expect(refused.locator("li")).to_contain_text("broken@settings-ui.example: ")
    expect(refused.locator("li")).to_contain_text("SMTP authentication failed at")
    expect(refused.locator("li")).to_contain_text("535")
    expect(page.locator("#campaign-state")).to_have_text("Draft")

    mailbox_id = add_mailbox(api, "starter@settings-ui.example", smtp_server)
    assert (
        api.patch(f"/api/v1/campaigns/{campaign_id}", json={"mailbox_ids": [mailbox_id]}).status_code == 200
    )
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("#campaign-state")).to_have_text("Active")
    expect(page.locator("#campaign-refused")).to_have_count(0)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#campaign-state")).to_have_text("Paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#campaign-state")).to_have_text("Active")
    assert api.get(f"/api/v1/campaigns/{campaign_id}").json()["status"] == "active"
