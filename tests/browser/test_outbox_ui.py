"""The "Outbox (local)" page in the browser: the messages the local SMTP capture received, newest first, with
their headers and text, through a gateway that has the capture's Maildir (as `leadflow up` runs it); a
gateway without one keeps the page out of its menu and says the capture is off."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from services.runtime.smtp_capture import CaptureServer
from tests.browser.conftest import NARROW, WIDE, screenshot
from tests.harness import ServiceProcess


@pytest.fixture
def capturing_page(browser: Browser, capturing_gateway: ServiceProcess, api_key: str) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        base_url=capturing_gateway.base_url, viewport=WIDE, locale="en-US"
    )
    context.set_default_timeout(15_000)
    signed_in = context.request.post(
        "/ui/session", data={"api_key": api_key}, headers={"Origin": capturing_gateway.base_url}
    )
    assert signed_in.status == 204, signed_in.text()
    try:
        yield context.new_page()
    finally:
        context.close()


def send(capture: CaptureServer, number: int) -> None:
    mail = EmailMessage()
    mail["From"] = "Dev <dev@leadflow.example>"
    mail["To"] = f"lead{number}@outbox-ui.example"
    mail["Subject"] = f"Quick question {number}"
    mail["Message-ID"] = f"<send-{number}@leadflow.example>"
    mail["List-Unsubscribe"] = f"<http://127.0.0.1:8000/u/token-{number}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(
        f"Hello lead {number},\n\nshall we talk?\n\nUnsubscribe: http://127.0.0.1:8000/u/token-{number}\n"
    )
    with smtplib.SMTP(capture.address.host, capture.address.port, timeout=10) as smtp:
        smtp.login("dev", "dev")
        smtp.send_message(mail)


def test_the_outbox_lists_captured_messages_with_their_headers(
    capturing_page: Page, capture: CaptureServer
) -> None:
    page = capturing_page
    page.goto("/#/outbox")
    expect(page.locator("#outbox-status")).to_have_text(
        "Nothing captured yet: activate a campaign that sends from the “Local capture” mailbox."
    )
    for number in (1, 2):
        send(capture, number)
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#outbox-status")).to_have_text(
        "The newest 2 messages captured; none of them was delivered."
    )
    expect(page.get_by_role("link", name="Outbox (local)")).to_have_attribute("aria-current", "page")
    items = page.locator("#outbox > li")
    expect(items.locator("h2")).to_have_text(["Quick question 2", "Quick question 1"])
    newest = items.first
    expect(newest).to_contain_text("lead2@outbox-ui.example")
    expect(newest).to_contain_text("<send-2@leadflow.example>")
    expect(newest.locator("pre.mail-text")).to_contain_text("shall we talk?")
    newest.get_by_text("All headers").click()
    expect(newest.locator("details.headers")).to_contain_text("List-Unsubscribe-Post")
    expect(newest.locator("details.headers")).to_contain_text("<http://127.0.0.1:8000/u/token-2>")
    expect(newest.locator("details.headers")).to_contain_text("X-RcptTo")
    screenshot(page, "outbox-local")

    page.set_viewport_size(NARROW)  # the menu with the outbox, and the headers, still fit 390 px
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    screenshot(page, "outbox-local-390")


def test_without_a_capture_the_outbox_is_off_and_not_in_the_menu(page: Page) -> None:
    page.goto("/#/campaigns")
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    expect(page.locator("#nav-outbox")).to_be_hidden()
    page.goto("/#/outbox")
    expect(page.locator("#outbox-status")).to_contain_text("The local capture is off on this server")
    expect(page.locator("#outbox > li")).to_have_count(0)
