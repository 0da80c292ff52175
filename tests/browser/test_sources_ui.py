"""Adding leads from the other sources in the browser: the company directory and the pipeline."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
from playwright.sync_api import Page, expect

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
