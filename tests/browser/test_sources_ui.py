"""Adding leads from the other sources in the browser: the company directory and the pipeline."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.seed import create_campaign, wait_for_leads
from tests.harness import ServiceStack


def load_directory_sample(stack: ServiceStack, rows: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "directory", "sample", "--rows", str(rows), "--replace"],
        env={**os.environ, "LEADFLOW_DATABASE_URL": stack.database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_add_from_database_counts_live_and_shows_the_breakdown(
    page: Page, api: httpx.Client, stack: ServiceStack
) -> None:
    load_directory_sample(stack, 2000)
    campaign_id = create_campaign(api, "Directory campaign")
    expected = api.get("/api/v1/directory/companies", params={"country": "CZ", "limit": 1}).json()["total"]
    page.goto(f"/#/campaigns/{campaign_id}")
    page.get_by_role("button", name="Add from Database").click()
    dialog = page.get_by_role("dialog", name="Add from Database")
    expect(dialog.locator("#directory-count")).to_have_text("2,000 companies match (the first 10 below).")
    dialog.get_by_label("Country", exact=True).select_option("CZ")
    expect(dialog.locator("#directory-count")).to_have_text(
        f"{expected:,} companies match (the first 10 below)."
    )
    expect(dialog.get_by_label("City", exact=True)).to_contain_text("Praha")
    dialog.get_by_role("button", name=f"Add {expected:,} companies").click()

    breakdown = dialog.locator("#import-breakdown")
    expect(breakdown).to_be_visible(timeout=60_000)
    expect(dialog.get_by_role("progressbar", name="Import progress")).to_have_attribute(
        "aria-valuenow", "100"
    )
    imported = int(breakdown.locator("[data-outcome=imported] b").inner_text().replace(",", ""))
    no_email = int(breakdown.locator("[data-outcome=missing_email] b").inner_text().replace(",", ""))
    assert imported + no_email == expected and imported > 0
    wait_for_leads(api, campaign_id, imported)
    page.keyboard.press("Escape")
    expect(page.locator("#page-status")).to_contain_text(f"of {imported:,} leads")


def test_import_from_pipeline_by_selection(page: Page, api: httpx.Client) -> None:
    stored = api.post(
        "/api/v1/pipeline/leads",
        json=[
            {
                "email": f"crm{i}@pipeline.example",
                "company_name": f"Pipeline {i}",
                "city": "Brno",
                "stage": "won",
            }
            for i in range(5)
        ]
        + [{"email": "lost@pipeline.example", "company_name": "Lost", "city": "Brno", "stage": "lost"}],
    )
    assert stored.status_code == 200, stored.text
    campaign_id = create_campaign(api, "Pipeline campaign")
    page.goto(f"/#/campaigns/{campaign_id}")
    page.get_by_role("button", name="Import from Pipeline").click()
    dialog = page.get_by_role("dialog", name="Import from Pipeline")
    dialog.get_by_label("Search", exact=True).fill("@pipeline.example")  # the workspace's pipeline is shared
    expect(dialog.locator("#pipeline-count")).to_have_text("6 pipeline leads match.")
    dialog.get_by_label("Stage", exact=True).fill("won")
    expect(dialog.locator("#pipeline-count")).to_have_text("5 pipeline leads match.")
    dialog.get_by_label("Select crm1@pipeline.example").check()
    dialog.get_by_label("Select crm3@pipeline.example").check()
    dialog.get_by_role("button", name="Import selected (2)").click()
    breakdown = dialog.locator("#import-breakdown")
    expect(breakdown.locator("[data-outcome=imported] b")).to_have_text("2", timeout=60_000)
    page.keyboard.press("Escape")
    wait_for_leads(api, campaign_id, 2)
    page.reload()
    expect(page.locator("#leads tbody")).to_contain_text(re.compile(r"crm1@pipeline\.example"))
    expect(page.locator("#leads tbody tr")).to_have_count(2)


def test_pipeline_filters_by_size_revenue_and_a_city_written_without_accents(
    page: Page, api: httpx.Client
) -> None:
    people = [
        ("a", "Plzeň", 10, 500_000),
        ("b", "Plzeň", 80, 2_000_000),
        ("c", "PLZEŇ", 250, 9_000_000),
        ("d", "Brno", 80, 2_000_000),
        ("e", "Plzeň", None, None),
    ]
    stored = api.post(
        "/api/v1/pipeline/leads",
        json=[
            {
                "email": f"{key}@ranges-pipe.example",
                "company_name": f"Firma {key}",
                "city": city,
                "company_size": size,
                "revenue": revenue,
            }
            for key, city, size, revenue in people
        ],
    )
    assert stored.status_code == 200, stored.text
    campaign_id = create_campaign(api, "Ranges campaign")
    page.goto(f"/#/campaigns/{campaign_id}")
    page.get_by_role("button", name="Import from Pipeline").click()
    dialog = page.get_by_role("dialog", name="Import from Pipeline")
    count = dialog.locator("#pipeline-count")
    dialog.get_by_label("Search", exact=True).fill("ranges-pipe.example")
    expect(count).to_have_text("5 pipeline leads match.")
    dialog.get_by_label("City", exact=True).fill("plzen")
    expect(count).to_have_text("4 pipeline leads match.")
    dialog.get_by_label("Employees from").fill("50")
    expect(count).to_have_text("2 pipeline leads match.")
    dialog.get_by_label("Revenue to").fill("5000000")
    expect(count).to_have_text("1 pipeline lead matches.")
    expect(dialog.locator("#pipeline-list")).to_contain_text("b@ranges-pipe.example")
    expect(dialog.locator("#pipeline-list")).to_contain_text("80 employees · revenue 2M")
    dialog.get_by_label("Employees to").fill("10")
    expect(count).to_have_text("Employees from is more than Employees to.")
    expect(dialog.get_by_role("button", name=re.compile("Import all"))).to_be_disabled()
    dialog.get_by_label("Employees to").fill("")
    dialog.get_by_role("button", name="Import all 1 matching").click()
    expect(dialog.locator("#import-breakdown [data-outcome=imported] b")).to_have_text("1", timeout=60_000)
    listed = wait_for_leads(api, campaign_id, 1)["items"]
    assert [lead["email"] for lead in listed] == ["b@ranges-pipe.example"]


def test_add_from_database_filters_by_revenue_and_previews_the_companies(
    page: Page, api: httpx.Client, stack: ServiceStack
) -> None:
    load_directory_sample(stack, 2000)
    campaign_id = create_campaign(api, "Revenue campaign")
    expected = api.get(
        "/api/v1/directory/companies", params={"country": "CZ", "revenue_min": 20_000_000, "limit": 200}
    ).json()
    assert 10 < expected["total"] < 2000
    page.goto(f"/#/campaigns/{campaign_id}")
    page.get_by_role("button", name="Add from Database").click()
    dialog = page.get_by_role("dialog", name="Add from Database")
    expect(dialog.locator("#directory-count")).to_have_text("2,000 companies match (the first 10 below).")
    dialog.get_by_label("Country", exact=True).select_option("CZ")
    dialog.get_by_label("Revenue from").fill("20000000")
    total = expected["total"]
    expect(dialog.locator("#directory-count")).to_have_text(
        f"{total:,} companies match (the first 10 below)."
    )
    preview = dialog.get_by_role("table", name="Matching companies")
    expect(preview.locator("tbody tr")).to_have_count(10)
    expect(preview.locator("tbody tr td:first-child")).to_have_text(
        [company["company_name"] for company in expected["items"][:10]]
    )
    screenshot(page, "add-from-database")
    dialog.get_by_role("button", name=f"Add {total:,} companies").click()
    breakdown = dialog.locator("#import-breakdown")
    expect(breakdown).to_be_visible(timeout=60_000)
    imported = int(breakdown.locator("[data-outcome=imported] b").inner_text().replace(",", ""))
    no_email = int(breakdown.locator("[data-outcome=missing_email] b").inner_text().replace(",", ""))
    assert imported + no_email == total
