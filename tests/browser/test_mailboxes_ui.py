"""The Mailboxes page in the browser: add (a refused address said in words), test the login against a real
SMTP server (aiosmtpd with AUTH) and see what failed, edit the limits and the gap, delete."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.peers.submission import SubmissionServer


def mailbox_named(api: httpx.Client, email: str) -> dict[str, object] | None:
    items = api.get("/api/v1/mailboxes", params={"limit": 100}).json()["items"]
    return next((m for m in items if m["email"] == email), None)


def test_add_test_edit_and_delete_a_mailbox(
    page: Page, api: httpx.Client, smtp_server: SubmissionServer
) -> None:
    page.goto("/")
    page.get_by_role("link", name="Mailboxes").click()
    expect(page.get_by_role("heading", name="Mailboxes", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Mailboxes")).to_have_attribute("aria-current", "page")

    page.get_by_role("button", name="Add mailbox").click()
    dialog = page.get_by_role("dialog", name="Add mailbox")
    dialog.get_by_label("Email", exact=True).fill("not an address")
    dialog.get_by_label("Sender name").fill("Dana Sales")
    dialog.get_by_label("Daily limit (emails a day)").fill("25")
    dialog.get_by_label("Gap between sends (seconds)").fill("90")
    dialog.get_by_label("SMTP host").fill(smtp_server.host)
    dialog.get_by_label("SMTP port").fill(str(smtp_server.port))
    dialog.get_by_label("SMTP security").select_option("none")
    dialog.get_by_label("SMTP username").fill(smtp_server.username)
    dialog.get_by_label("SMTP password", exact=True).fill("wrong password")
    dialog.get_by_role("button", name="Add mailbox").click()
    expect(dialog.locator("#mailbox-error")).to_contain_text("is not an address")

    dialog.get_by_label("Email", exact=True).fill("dana@mailbox-ui.example")
    dialog.get_by_role("button", name="Add mailbox").click()
    expect(dialog).to_be_hidden()
    row = page.locator("#mailboxes tbody tr", has_text="dana@mailbox-ui.example")
    expect(row).to_contain_text("Dana Sales")
    expect(row).to_contain_text("25 a day")
    expect(row).to_contain_text(f"{smtp_server.host}:{smtp_server.port}")

    # The wrong password: the test says what failed, in the mailer's words.
    row.get_by_role("button", name="Test dana@mailbox-ui.example").click()
    expect(row.locator(".test-result")).to_contain_text("Test failed.")
    expect(row.locator(".test-result")).to_contain_text("SMTP: SMTP authentication failed at")
    assert smtp_server.logins[-1] == (smtp_server.username, False)

    row.get_by_role("button", name="Edit dana@mailbox-ui.example").click()
    edit = page.get_by_role("dialog", name="Edit dana@mailbox-ui.example")
    expect(edit.get_by_label("Daily limit (emails a day)")).to_have_value("25")
    expect(edit.get_by_label("SMTP password (leave empty to keep)")).to_have_value("")
    edit.get_by_label("Daily limit (emails a day)").fill("40")
    edit.get_by_label("Gap between sends (seconds)").fill("300")
    edit.get_by_label("SMTP password (leave empty to keep)").fill(smtp_server.password)
    edit.get_by_role("button", name="Save").click()
    expect(edit).to_be_hidden()
    expect(row).to_contain_text("40 a day")
    expect(row).to_contain_text("5 min")
    saved = mailbox_named(api, "dana@mailbox-ui.example")
    assert saved is not None and (saved["daily_limit"], saved["min_gap_seconds"]) == (40, 300)

    row.get_by_role("button", name="Test dana@mailbox-ui.example").click()
    expect(row.locator(".test-result")).to_contain_text("Test passed.")
    expect(row.locator(".test-result")).to_contain_text("SMTP: login works")
    assert smtp_server.logins[-1] == (smtp_server.username, True)
    screenshot(page, "mailboxes")

    row.get_by_role("button", name="Delete dana@mailbox-ui.example").click()
    confirm = page.get_by_role("dialog", name="Delete mailbox")
    confirm.get_by_role("button", name="Delete").click()
    expect(page.locator("#mailboxes tbody tr", has_text="dana@mailbox-ui.example")).to_have_count(0)
    assert mailbox_named(api, "dana@mailbox-ui.example") is None
