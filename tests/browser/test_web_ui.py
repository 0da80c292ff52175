"""The web UI in a real browser against a real stack: sign-in, the import wizard, the leads table."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from tests.browser.conftest import NARROW, screenshot
from tests.browser.seed import bounce_and_unsubscribe, create_campaign, import_csv, wait_for_leads
from tests.harness import ServiceStack

DASH = "\u2013"  # the page status shows a range such as 1 to 25 with an en dash
COMPANIES = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"]


def test_sign_in_rejects_a_bad_key_and_sign_out_ends_the_session(
    context: BrowserContext, api_key: str
) -> None:
    page = context.new_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to Leadflow")).to_be_visible()
    screenshot(page, "sign-in")

    page.get_by_label("API key").fill("lf_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That API key is unknown or revoked.")

    page.get_by_label("API key").fill(api_key)
    page.get_by_label("API key").press("Enter")
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    expect(page.locator("#workspace-name")).to_have_text("Acme outreach")
    [cookie] = [c for c in context.cookies() if c["name"] == "leadflow_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # invisible to scripts
    assert cookie["value"] != api_key and api_key not in cookie["value"]  # a session token, not the key

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Leadflow")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "leadflow_session"]
    assert context.request.get("/api/v1/campaigns").status == 401
    # Signing out ended the session on the server: a copy of the old cookie opens nothing.
    stolen = context.request.get(
        "/api/v1/campaigns", headers={"Cookie": f"leadflow_session={cookie['value']}"}
    )
    assert stolen.status == 401


def test_create_a_campaign_and_import_a_csv_through_the_wizard(page: Page) -> None:
    rows = "".join(f"jiri.capek{i}@zdar.cz;Jiří;Čapek;Žďárské strojírny {i}\r\n" for i in range(3000))
    csv = (
        "E-mail;Jméno;Příjmení;Firma\r\n"
        + rows
        + "jiri.capek0@zdar.cz;Jiří;Čapek;dup\r\nnot-an-address;X;Y;Z\r\n"
    )
    page.goto("/")
    page.get_by_label("New campaign").fill("Wizard campaign")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", name="Wizard campaign")).to_be_visible()

    page.get_by_role("button", name="Import CSV").click()
    wizard = page.get_by_role("dialog", name="Import CSV")
    wizard.get_by_label("CSV file").set_input_files(
        files=FilePayload(name="capek.csv", mimeType="text/csv", buffer=csv.encode("cp1250"))
    )
    wizard.get_by_role("button", name="Preview").click()
    expect(wizard.locator("#detected-encoding")).to_have_text("cp1250")
    expect(wizard.locator("#detected-delimiter")).to_have_text("semicolon (;)")
    expect(wizard.get_by_role("table", name="First rows")).to_contain_text("Žďárské strojírny 0")
    expect(wizard.get_by_label("Email (required)")).to_have_value("E-mail")
    expect(wizard.get_by_label("Company")).to_have_value("Firma")

    # Record every value the progress bar shows, from the first event to the end.
    page.evaluate(
        """() => { window.progressSeen = [];
        new MutationObserver(() => { const bar = document.querySelector('#import-progress [role=progressbar]');
          if (bar) window.progressSeen.push(Number(bar.getAttribute('aria-valuenow'))); })
        .observe(document.body, {subtree: true, childList: true, attributes: true}); }"""
    )
    wizard.get_by_role("button", name="Start import").click()
    breakdown = wizard.locator("#import-breakdown")
    expect(breakdown).to_be_visible(timeout=60_000)
    expect(wizard.get_by_role("progressbar", name="Import progress")).to_have_attribute(
        "aria-valuenow", "100"
    )
    seen = page.evaluate("window.progressSeen")
    assert seen[-1] == 100 and seen == sorted(seen), seen
    expect(breakdown.locator("[data-outcome=imported] b")).to_have_text("3,000")
    expect(breakdown.locator("[data-outcome=duplicate_in_file] b")).to_have_text("1")
    expect(breakdown.locator("[data-outcome=invalid_format] b")).to_have_text("1")
    report = breakdown.get_by_role("link", name=re.compile("rejected-rows report"))
    assert re.fullmatch(r"/api/v1/imports/[0-9a-f-]{36}/report\.csv", report.get_attribute("href") or "")
    assert page.request.get(report.get_attribute("href") or "").status == 200  # with the session cookie
    screenshot(page, "import-wizard-breakdown")

    wizard.get_by_role("button", name="Done").click()
    expect(page.locator("#page-status")).to_contain_text("of 3,000 leads", timeout=30_000)


def test_the_leads_table_filters_searches_pages_and_opens_a_lead(
    page: Page, api: httpx.Client, stack: ServiceStack
) -> None:
    campaign_id = create_campaign(api, "Prague agencies Q4")
    csv = "email,first_name,company\n" + "".join(
        f"person{i:02d}@{COMPANIES[i % 5].lower()}.example,Person {i},{COMPANIES[i % 5]} s.r.o.\n"
        for i in range(60)
    )
    import_csv(
        api, campaign_id, csv, {"email": "email", "first_name": "first_name", "company_name": "company"}
    )
    listed = sorted(wait_for_leads(api, campaign_id, 60)["items"], key=lambda lead: lead["email"])
    workspace_id = api.get("/api/v1/workspace").json()["id"]
    bounce_and_unsubscribe(stack.nats_url, workspace_id, campaign_id, bounced=listed[:3], gone=listed[3:5])
    wait_for_leads(api, campaign_id, 3, status="bounced")
    wait_for_leads(api, campaign_id, 2, status="unsubscribed")

    page.goto("/")
    expect(page.get_by_role("link", name=re.compile("Prague agencies Q4"))).to_contain_text("60 leads")
    screenshot(page, "campaigns")
    page.get_by_role("link", name=re.compile("Prague agencies Q4")).click()

    table = page.locator("#leads")
    expect(page.locator("#validation-summary")).to_contain_text("60leads")
    expect(page.locator("#page-status")).to_have_text(f"Page 1 of 3 · 1{DASH}25 of 60 leads")
    expect(table.locator("tbody tr")).to_have_count(25)
    expect(table.locator(".badge.status-bounced")).to_have_count(3)
    expect(table.locator(".badge.status-unsubscribed")).to_have_count(2)
    # Newest activity first: the last lead to unsubscribe heads the table, not the first one imported.
    expect(page.get_by_role("columnheader", name="Last activity")).to_have_attribute(
        "aria-sort", "descending"
    )
    expect(table.locator("tbody tr").first).to_contain_text(listed[4]["email"])
    screenshot(page, "leads-table")

    page.get_by_role("button", name="Next").click()
    expect(page.locator("#page-status")).to_have_text(f"Page 2 of 3 · 26{DASH}50 of 60 leads")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#page-status")).to_have_text(f"Page 3 of 3 · 51{DASH}60 of 60 leads")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    page.get_by_role("button", name="Previous").click()
    expect(page.locator("#page-status")).to_contain_text("Page 2 of 3")

    page.get_by_label("Status", exact=True).select_option("bounced")
    expect(page.locator("#page-status")).to_have_text(f"Page 1 of 1 · 1{DASH}3 of 3 leads")
    expect(table.locator("tbody tr")).to_have_count(3)
    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_label("Search", exact=True).fill("gamma")
    expect(page.locator("#page-status")).to_have_text(f"Page 1 of 1 · 1{DASH}12 of 12 leads")
    for company in table.locator("tbody tr td:nth-child(2)").all_text_contents():
        assert company == "Gamma s.r.o."
    page.get_by_label("Validation", exact=True).select_option("pending")
    expect(table.locator("tbody tr")).to_have_count(12)

    page.get_by_role("button", name="person02@gamma.example").click()
    drawer = page.locator("#lead-drawer")
    expect(drawer.get_by_role("heading", name="person02@gamma.example")).to_be_visible()
    expect(drawer).to_contain_text("Gamma s.r.o.")
    expect(drawer.locator(".badge.status-bounced")).to_be_visible()
    timeline = drawer.get_by_role("list", name="Timeline")
    expect(timeline).to_contain_text("Imported: from row 3 of its import")
    expect(timeline).to_contain_text("Bounced: the address does not take mail")
    page.keyboard.press("Escape")
    expect(drawer).to_have_count(0)

    page.get_by_label("Search", exact=True).fill("")
    page.set_viewport_size(NARROW)
    expect(page.locator("#page-status")).to_contain_text("of 60 leads")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    page.locator("#leads").scroll_into_view_if_needed()
    screenshot(page, "leads-table-390")


def test_select_all_matching_and_change_their_status(page: Page, api: httpx.Client) -> None:
    campaign_id = create_campaign(api, "Bulk campaign")
    csv = "email\n" + "".join(f"bulk{i:02d}@firma.example\n" for i in range(30))
    import_csv(api, campaign_id, csv, {"email": "email"})
    wait_for_leads(api, campaign_id, 30)
    page.goto(f"/#/campaigns/{campaign_id}")
    expect(page.locator("#page-status")).to_contain_text("of 30 leads")

    page.get_by_label("Select all leads on this page").check()
    expect(page.locator("#selected-count")).to_have_text("25 selected")
    page.get_by_role("button", name="Select all 30 matching").click()
    expect(page.locator("#selected-count")).to_have_text("30 selected")
    page.get_by_label("Set status to").select_option("completed")
    page.get_by_role("button", name="Apply…").click()
    confirm = page.get_by_role("dialog", name="Change status")
    expect(confirm).to_contain_text("Set the status of 30 leads to “completed”?")
    confirm.get_by_role("button", name="Set 30 to completed").click()
    expect(page.locator("#job-status")).to_have_text("Done: 30 of 30 leads changed.", timeout=30_000)
    page.keyboard.press("Escape")
    wait_for_leads(api, campaign_id, 30, status="completed")
    page.get_by_label("Status", exact=True).select_option("completed")
    expect(page.locator("#page-status")).to_contain_text("of 30 leads")


def test_the_sign_in_hint_shows_commands_not_backticks(context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/")
    hint = page.locator("#sign-in-hint")
    expect(hint).to_have_text("leadflow workspace create NAME prints one; make run prints a dev key.")
    expect(hint.locator("code")).to_have_text(["leadflow workspace create NAME", "make run"])


def test_no_page_logs_a_console_error_or_a_failed_request(
    context: BrowserContext, api: httpx.Client, api_key: str
) -> None:
    campaign_id = create_campaign(api, "Quiet console")
    import_csv(api, campaign_id, "email\nquiet@console.example\n", {"email": "email"})
    problems: list[str] = []
    page = context.new_page()
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    # Leaving a page closes its live streams: an abort, not a failure.
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
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to Leadflow")).to_be_visible()
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name=re.compile("Quiet console"))).to_be_visible()
    page.get_by_role("link", name=re.compile("Quiet console")).click()
    expect(page.locator("#page-status")).to_contain_text("of 1 leads")
    page.get_by_role("link", name="Imports", exact=True).click()
    expect(page.locator("#import-history > li")).to_have_count(1)
    page.get_by_role("link", name="Suppression list").click()
    expect(page.get_by_role("heading", name="Suppression list")).to_be_visible()
    page.wait_for_load_state("networkidle")
    favicon = page.request.get("/favicon.ico")
    assert favicon.status == 200 and favicon.headers["content-type"].startswith("image/")
    assert problems == []


def test_every_page_fits_a_390px_screen(page: Page, api: httpx.Client) -> None:
    campaign_id = create_campaign(api, "Narrow campaign")
    import_csv(
        api,
        campaign_id,
        "email,company\nnarrow.person.with.a.long.address@a-rather-long-domain-name.example,Úzká firma\n",
        {"email": "email", "company_name": "company"},
    )
    assert api.post("/api/v1/suppressions", json={"email": "narrow@suppressed.example"}).status_code == 201
    page.set_viewport_size(NARROW)

    def fits(name: str) -> None:
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"], f"{name} is {width}px wide"
        screenshot(page, name)

    page.goto(f"/#/campaigns/{campaign_id}")
    expect(page.locator("#page-status")).to_contain_text("of 1 leads")
    page.get_by_label("Select narrow.person.with.a.long.address@a-rather-long-domain-name.example").check()
    expect(page.locator("#bulk-remove")).to_be_visible()
    fits("leads-table-selection-390")
    page.get_by_role("link", name="Imports", exact=True).click()
    expect(page.locator("#import-history > li")).to_have_count(1)
    fits("import-history-390")
    page.get_by_role("link", name="Suppression list").click()
    expect(page.locator("#suppress-status")).to_contain_text("address")
    fits("suppression-list-390")
    page.goto(f"/#/campaigns/{campaign_id}")
    page.get_by_role("button", name="Import CSV").click()
    wizard = page.get_by_role("dialog", name="Import CSV")
    wizard.get_by_label("CSV file").set_input_files(
        files=FilePayload(name="narrow.csv", mimeType="text/csv", buffer=b"email,name\nx@narrow.example,X\n")
    )
    wizard.get_by_role("button", name="Preview").click()
    expect(wizard.get_by_role("button", name="Start import")).to_be_in_viewport(ratio=1)
    fits("import-wizard-390")
