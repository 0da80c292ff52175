"""The workspace suppression list in the browser: view (paged, searched), add, remove, upload a CSV."""

from __future__ import annotations

import httpx
from playwright.sync_api import FilePayload, Page, expect

from tests.browser.conftest import screenshot

DASH = "\u2013"


def suppressed(api: httpx.Client, q: str) -> list[str]:
    body = api.get("/api/v1/suppressions", params={"q": q, "limit": 1000}).json()
    return sorted(item["email"] for item in body["items"])


def test_the_list_pages_searches_adds_and_removes_addresses(page: Page, api: httpx.Client) -> None:
    for other in ("someone@elsewhere.example", "noone@elsewhere.example"):  # the search must leave these out
        assert api.post("/api/v1/suppressions", json={"email": other}).status_code == 201
    for i in range(55):
        added = api.post(
            "/api/v1/suppressions", json={"email": f"gone{i:02d}@suppress-ui.example", "reason": "asked"}
        )
        assert added.status_code == 201, added.text
    page.goto("/")
    page.get_by_role("link", name="Suppression list").click()
    expect(page.get_by_role("heading", name="Suppression list")).to_be_visible()
    expect(page.get_by_role("link", name="Suppression list")).to_have_attribute("aria-current", "page")

    page.get_by_label("Search", exact=True).fill("suppress-ui.example")
    status = page.locator("#suppress-status")
    expect(status).to_have_text(f"1{DASH}50 of 55 addresses")
    expect(page.locator("#suppressions tbody tr")).to_have_count(50)
    page.get_by_role("button", name="Next").click()
    expect(status).to_have_text(f"51{DASH}55 of 55 addresses")
    page.get_by_role("button", name="Previous").click()
    expect(status).to_have_text(f"1{DASH}50 of 55 addresses")

    page.get_by_label("Email", exact=True).fill("Manual.Entry@Suppress-UI.example")
    page.get_by_label("Reason (optional)").fill("competitor")
    page.get_by_role("button", name="Add to the list").click()
    expect(status).to_have_text(f"1{DASH}50 of 56 addresses")
    page.get_by_label("Search", exact=True).fill("manual.entry")
    row = page.locator("#suppressions tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("competitor")
    expect(row).to_contain_text("Added by hand")

    added_email = row.locator("td").first.inner_text()
    row.get_by_role("button", name=f"Remove {added_email}").click()
    confirm = page.get_by_role("dialog", name="Remove from the suppression list")
    expect(confirm).to_contain_text(added_email)
    confirm.get_by_role("button", name="Remove").click()
    expect(page.locator("#suppressions tbody")).to_have_text("No address on the list matches.")
    assert suppressed(api, "manual.entry") == []
    assert len(suppressed(api, "suppress-ui.example")) == 55


def test_an_uploaded_csv_shows_what_was_added_already_there_and_rejected(
    page: Page, api: httpx.Client
) -> None:
    assert api.post("/api/v1/suppressions", json={"email": "known@upload-ui.example"}).status_code == 201
    content = (
        "email\nfirst@upload-ui.example\nknown@upload-ui.example\nnot-an-address\nsecond@upload-ui.example\n"
    )
    page.goto("/#/suppressions")
    page.get_by_label("CSV file").set_input_files(
        files=FilePayload(name="blocked.csv", mimeType="text/csv", buffer=content.encode())
    )
    page.get_by_role("button", name="Upload").click()
    result = page.locator("#suppress-upload-result")
    expect(result.locator("[data-outcome=added] b")).to_have_text("2")
    expect(result.locator("[data-outcome=already] b")).to_have_text("1")
    expect(result.locator("[data-outcome=rejected] b")).to_have_text("1")
    rejected = result.get_by_role("table", name="Rejected rows")
    expect(rejected.locator("tbody tr")).to_have_count(1)
    expect(rejected.locator("tbody tr")).to_contain_text("not-an-address")
    page.get_by_label("Search", exact=True).fill("upload-ui.example")
    expect(page.locator("#suppress-status")).to_have_text(f"1{DASH}3 of 3 addresses")
    screenshot(page, "suppression-list")
    assert suppressed(api, "upload-ui.example") == [
        "first@upload-ui.example",
        "known@upload-ui.example",
        "second@upload-ui.example",
    ]
