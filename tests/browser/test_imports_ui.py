"""Imports in the browser: the wizard's layout and progress, cancelling, and a campaign's import history."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import FilePayload, Page, expect

from tests.browser.conftest import screenshot
from tests.browser.seed import create_campaign, import_csv

COLUMNS = [
    "E-mail",
    "Jméno",
    "Příjmení",
    "Firma",
    "Telefon",
    "Web",
    "Město",
    "Obor",
    "Poznámka",
    "Zdroj",
    "Kraj",
    "PSČ",
]


def wide_csv(rows: int) -> bytes:
    """A real export's shape: twelve columns of long values."""
    lines = [";".join(COLUMNS)] + [
        ";".join([f"kontakt{i}@sirokafirma.cz"] + [f"{column} {i} - delší hodnota" for column in COLUMNS[1:]])
        for i in range(rows)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def big_csv(rows: int, domain: str) -> bytes:
    return ("email,company\n" + "".join(f"row{i:06d}@{domain},Firma {i}\n" for i in range(rows))).encode()


def open_wizard_with(page: Page, campaign_id: str, name: str, content: bytes) -> None:
    page.goto(f"/#/campaigns/{campaign_id}")
    page.get_by_role("button", name="Import CSV").click()
    wizard = page.get_by_role("dialog", name="Import CSV")
    wizard.get_by_label("CSV file").set_input_files(
        files=FilePayload(name=name, mimeType="text/csv", buffer=content)
    )
    wizard.get_by_role("button", name="Preview").click()
    expect(wizard.locator("#detected-encoding")).to_be_visible()


def test_the_wizard_at_1280x900_shows_its_buttons_and_every_preview_column(
    page: Page, api: httpx.Client
) -> None:
    assert page.viewport_size == {"width": 1280, "height": 900}
    campaign_id = create_campaign(api, "Wide file")
    open_wizard_with(page, campaign_id, "wide.csv", wide_csv(20))
    wizard = page.get_by_role("dialog", name="Import CSV")
    preview = wizard.get_by_role("table", name="First rows")
    expect(preview.get_by_role("columnheader", name="PSČ")).to_be_in_viewport(ratio=1)
    expect(preview.locator("tbody tr").first.locator("td").last).to_be_in_viewport(ratio=1)
    expect(wizard.get_by_role("button", name="Back")).to_be_in_viewport(ratio=1)
    expect(wizard.get_by_role("button", name="Start import")).to_be_in_viewport(ratio=1)
    screenshot(page, "import-wizard-1280")
    # The buttons stay in view however far the mapping below the preview is scrolled.
    wizard.get_by_label("Industry").scroll_into_view_if_needed()
    expect(wizard.get_by_role("button", name="Start import")).to_be_in_viewport(ratio=1)
    wizard.get_by_role("button", name="Start import").click()
    expect(wizard.locator("#import-breakdown [data-outcome=imported] b")).to_have_text("20", timeout=60_000)
    expect(wizard.get_by_text("Step 3 of 3 · Importing")).to_be_in_viewport()


def test_a_file_the_preview_refuses_shows_the_reason_in_the_wizard(page: Page, api: httpx.Client) -> None:
    # The API answers 422 in FastAPI's array form; the wizard shows the message itself.
    campaign_id = create_campaign(api, "Too wide a file")
    page.goto(f"/#/campaigns/{campaign_id}")
    page.get_by_role("button", name="Import CSV").click()
    wizard = page.get_by_role("dialog", name="Import CSV")
    too_wide = (",".join(f"c{i}" for i in range(1_200)) + "\nx@firma.cz\n").encode()
    wizard.get_by_label("CSV file").set_input_files(
        files=FilePayload(name="wide.csv", mimeType="text/csv", buffer=too_wide)
    )
    wizard.get_by_role("button", name="Preview").click()
    expect(wizard.get_by_role("alert")).to_have_text(
        "The header row has 1,200 columns; a file may have at most 1,000. "
        "Remove the columns you do not need and try again."
    )


def test_progress_says_of_how_many_rows_once_the_total_is_known(page: Page, api: httpx.Client) -> None:
    campaign_id = create_campaign(api, "Counted file")
    open_wizard_with(page, campaign_id, "counted.csv", big_csv(30_000, "counted.example"))
    page.evaluate(
        """() => { window.statusSeen = [];
        new MutationObserver(() => { const s = document.querySelector('#import-status');
          if (s && s.textContent !== window.statusSeen.at(-1)) window.statusSeen.push(s.textContent); })
        .observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
    )
    page.get_by_role("button", name="Start import").click()
    breakdown = page.locator("#import-breakdown")
    expect(breakdown).to_be_visible(timeout=120_000)
    expect(breakdown.locator("#import-status")).to_have_text("Import finished: 30,000 of 30,000 rows read.")
    seen: list[str] = page.evaluate("window.statusSeen")
    running = [text for text in seen if not text.startswith("Import ")]
    assert any(re.fullmatch(r"\d+% · [\d,]+ of 30,000 rows", text) for text in running), seen
    assert "0% · 0 rows" not in seen


def test_a_running_import_can_be_cancelled_and_keeps_what_it_imported(page: Page, api: httpx.Client) -> None:
    campaign_id = create_campaign(api, "Cancelled import")
    rows = 150_000
    open_wizard_with(page, campaign_id, "huge.csv", big_csv(rows, "cancel.example"))
    page.get_by_role("button", name="Start import").click()
    page.get_by_role("button", name="Cancel import").click()
    status = page.locator("#import-breakdown #import-status")
    expect(status).to_contain_text("Import cancelled after", timeout=120_000)
    imported = int(page.locator("#import-breakdown [data-outcome=imported] b").inner_text().replace(",", ""))
    assert imported < rows
    listed = api.get(f"/api/v1/campaigns/{campaign_id}/imports").json()["items"]
    assert [item["state"] for item in listed] == ["cancelled"]

    page.keyboard.press("Escape")
    page.get_by_role("link", name="Imports", exact=True).click()
    card = page.locator("#import-history > li").first
    expect(card.locator(".badge")).to_have_text("Cancelled")
    expect(card.locator("[data-outcome=imported] b")).to_have_text(f"{imported:,}")


def test_the_import_history_lists_each_import_with_its_breakdown_and_report(
    page: Page, api: httpx.Client
) -> None:
    campaign_id = create_campaign(api, "History campaign")
    first = import_csv(
        api,
        campaign_id,
        "email\nhist1@history.example\nhist2@history.example\nhist1@history.example\nnot-an-address\n",
        {"email": "email"},
    )
    stored = api.post(
        "/api/v1/pipeline/leads",
        json=[{"email": f"crm{i}@history-pipe.example", "company_name": f"Pipe {i}"} for i in range(2)],
    )
    assert stored.status_code == 200, stored.text
    started = api.post(
        f"/api/v1/campaigns/{campaign_id}/imports/pipeline",
        json={"filter": {"q": "history-pipe.example"}},
    )
    assert started.status_code == 202, started.text

    page.goto(f"/#/campaigns/{campaign_id}/imports")
    expect(page.get_by_role("heading", name="Import history")).to_be_visible()
    cards = page.locator("#import-history > li")
    expect(cards).to_have_count(2)
    newest, oldest = cards.nth(0), cards.nth(1)
    expect(newest).to_contain_text("Pipeline")
    expect(newest.locator(".badge")).to_have_text("Finished", timeout=30_000)
    expect(newest.locator("[data-outcome=imported] b")).to_have_text("2")

    expect(oldest.get_by_role("heading")).to_have_text("leads.csv")
    expect(oldest.locator(".badge")).to_have_text("Finished")
    expect(oldest.locator("[data-outcome=imported] b")).to_have_text("2")
    expect(oldest.locator("[data-outcome=duplicate_in_file] b")).to_have_text("1")
    expect(oldest.locator("[data-outcome=invalid_format] b")).to_have_text("1")
    report = oldest.get_by_role("link", name=re.compile("rejected-rows report"))
    assert report.get_attribute("href") == f"/api/v1/imports/{first['id']}/report.csv"
    assert page.request.get(report.get_attribute("href") or "").status == 200
    screenshot(page, "import-history")


def test_a_running_import_can_be_cancelled_from_the_history(page: Page, api: httpx.Client) -> None:
    campaign_id = create_campaign(api, "Cancelled from history")
    started = api.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        files={"file": ("history-huge.csv", big_csv(150_000, "history-cancel.example"), "text/csv")},
        data={"mapping": '{"email": "email", "company_name": "company"}'},
    )
    assert started.status_code == 202, started.text
    page.goto(f"/#/campaigns/{campaign_id}/imports")
    card = page.locator("#import-history > li").first
    expect(card.locator(".badge")).to_have_text("Running")
    expect(card.get_by_role("progressbar")).to_be_visible()
    card.get_by_role("button", name="Cancel import").click()
    expect(card.locator(".badge")).to_have_text("Cancelled", timeout=60_000)
    expect(card).to_contain_text("Import cancelled after")
    final = api.get(f"/api/v1/imports/{started.json()['id']}").json()
    assert final["state"] == "cancelled" and final["counts"]["imported"] < 150_000
