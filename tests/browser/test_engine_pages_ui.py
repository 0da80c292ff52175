"""The campaign engine's pages on a 390 px screen (nothing wider than the screen), and without a console
error or a failed request on the way through them."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import NARROW, screenshot
from tests.browser.seed import create_campaign, import_csv

STEPS = [
    {
        "subject": "Hi {{first_name|there}}",
        "body": "A rather long first line of the first step's body.",
        "delay_minutes": 0,
    },
    {"subject": "", "body": "Following up.", "delay_minutes": 4320},
]


def narrow_campaign(api: httpx.Client) -> str:
    campaign_id = create_campaign(api, "Narrow engine campaign")
    import_csv(
        api,
        campaign_id,
        "email,first_name\nnarrow.engine@narrow-engine.example,Nora\n",
        {"email": "email", "first_name": "first_name"},
    )
    assert api.put(f"/api/v1/campaigns/{campaign_id}/sequence", json={"steps": STEPS}).status_code == 200
    created = api.post(
        "/api/v1/mailboxes",
        json={
            "email": "a.long.sender.address@narrow-engine.example",
            "name": "Narrow sender",
            "smtp": {
                "host": "smtp.narrow-engine.example",
                "port": 587,
                "username": "u",
                "password": "p",
                "security": "starttls",
            },
        },
    )
    assert created.status_code == 201, created.text
    return campaign_id


def test_the_engine_pages_fit_a_390px_screen(page: Page, api: httpx.Client) -> None:
    campaign_id = narrow_campaign(api)
    page.set_viewport_size(NARROW)

    def fits(name: str) -> None:
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"], f"{name} is {width}px wide"
        screenshot(page, name)

    page.goto(f"/#/campaigns/{campaign_id}/sequence")
    expect(page.locator("#steps > li")).to_have_count(2)
    fits("sequence-editor-390")
    page.goto(f"/#/campaigns/{campaign_id}/settings")
    expect(page.get_by_role("button", name="Save settings")).to_be_visible()
    fits("campaign-settings-390")
    page.goto(f"/#/campaigns/{campaign_id}/analytics")
    expect(page.locator("#funnel-chart g.bar")).to_have_count(2)
    fits("campaign-analytics-390")
    page.goto(f"/#/campaigns/{campaign_id}/sends")
    expect(page.locator("#sends tbody td.empty")).to_have_text("No sends here yet.")
    fits("campaign-sends-390")
    page.goto("/#/mailboxes")
    expect(
        page.locator("#mailboxes tbody tr", has_text="a.long.sender.address@narrow-engine.example")
    ).to_be_visible()
    fits("mailboxes-390")
    page.goto("/#/outbox")
    expect(page.locator("#outbox-status")).to_contain_text("off")
    fits("outbox-390")


def test_no_engine_page_logs_a_console_error_or_a_failed_request(page: Page, api: httpx.Client) -> None:
    campaign_id = narrow_campaign(api)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on(
        "requestfailed",
        lambda request: (
            problems.append(f"{request.failure}: {request.url}")
            if request.failure != "net::ERR_ABORTED"
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status}: {response.url}") if response.status >= 400 else None
        ),
    )
    page.goto(f"/#/campaigns/{campaign_id}")
    expect(page.locator("#page-status")).to_contain_text("of 1 leads")
    page.get_by_role("link", name="Sequence", exact=True).click()
    expect(page.locator("#preview-lead")).to_contain_text("narrow.engine@narrow-engine.example")
    page.get_by_role("button", name="Preview for this lead").click()
    expect(page.locator("#preview-result li[data-step='1'] .preview-subject")).to_have_text(
        "Subject: Hi Nora"
    )
    page.get_by_role("link", name="Schedule & sending").click()
    expect(page.get_by_role("button", name="Save settings")).to_be_visible()
    page.get_by_role("link", name="Analytics").click()
    expect(page.locator("#funnel-chart g.bar")).to_have_count(2)
    page.get_by_role("link", name="Sends").click()
    expect(page.locator("#sends tbody td.empty")).to_have_text("No sends here yet.")
    page.get_by_role("link", name="Mailboxes").click()
    expect(page.get_by_role("heading", name="Mailboxes", exact=True)).to_be_visible()
    page.goto("/#/outbox")
    expect(page.locator("#outbox-status")).to_contain_text("off")
    page.wait_for_load_state("networkidle")
    assert problems == []
