"""The Leads tab around the table: export, removal, paging position, an empty campaign's summary."""

from __future__ import annotations

import csv
import io
import uuid

import httpx
from playwright.sync_api import Page, expect

from contracts import ImportCompleted, ImportState, LeadImported
from contracts.events import ImportedLead
from tests.browser.seed import (
    bounce_and_unsubscribe,
    create_campaign,
    import_csv,
    leads,
    publish_events,
    wait_for_leads,
)
from tests.harness import ServiceStack


def seeded_campaign(api: httpx.Client, name: str, rows: int, domain: str) -> str:
    """`rows` leads `leadNN@<domain>`: a domain per test, as a bounce puts its address on the workspace's
    suppression list, which later imports respect."""
    campaign_id = create_campaign(api, name)
    body = "email,company\n" + "".join(f"lead{i:02d}@{domain},Firma {i % 3}\n" for i in range(rows))
    import_csv(api, campaign_id, body, {"email": "email", "company_name": "company"})
    wait_for_leads(api, campaign_id, rows)
    return campaign_id


def test_export_downloads_exactly_the_leads_the_filter_shows(
    page: Page, api: httpx.Client, stack: ServiceStack
) -> None:
    campaign_id = seeded_campaign(api, "Export campaign", 12, "export.example")
    listed = sorted(leads(api, campaign_id)["items"], key=lambda lead: lead["email"])
    workspace_id = api.get("/api/v1/workspace").json()["id"]
    bounce_and_unsubscribe(stack.nats_url, workspace_id, campaign_id, bounced=listed[:3], gone=[])
    wait_for_leads(api, campaign_id, 3, status="bounced")

    page.goto(f"/#/campaigns/{campaign_id}")
    expect(page.locator("#page-status")).to_contain_text("of 12 leads")
    page.get_by_label("Status", exact=True).select_option("bounced")
    expect(page.locator("#page-status")).to_contain_text("of 3 leads")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = download.value.path().read_bytes().decode("utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["email"] for row in exported) == [lead["email"] for lead in listed[:3]]
    assert {row["status"] for row in exported} == {"bounced"}


def test_remove_takes_the_selected_leads_out_after_a_confirmation(page: Page, api: httpx.Client) -> None:
    campaign_id = seeded_campaign(api, "Removal campaign", 5, "removal.example")
    page.goto(f"/#/campaigns/{campaign_id}")
    expect(page.locator("#page-status")).to_contain_text("of 5 leads")
    page.get_by_label("Select lead01@removal.example").check()
    page.get_by_label("Select lead03@removal.example").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")

    page.get_by_role("button", name="Remove from campaign…").click()
    confirm = page.get_by_role("dialog", name="Remove leads")
    expect(confirm).to_contain_text("Remove 2 leads from this campaign?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    assert leads(api, campaign_id)["total"] == 5  # nothing happens without the confirmation

    page.get_by_role("button", name="Remove from campaign…").click()
    page.get_by_role("dialog", name="Remove leads").get_by_role("button", name="Remove 2 leads").click()
    expect(page.locator("#job-status")).to_have_text("Done: 2 of 2 leads removed.", timeout=30_000)
    page.keyboard.press("Escape")
    expect(page.locator("#page-status")).to_contain_text("of 3 leads")
    remaining = {lead["email"] for lead in leads(api, campaign_id)["items"]}
    assert remaining == {"lead00@removal.example", "lead02@removal.example", "lead04@removal.example"}


def test_next_page_opens_at_the_top_of_the_table(page: Page, api: httpx.Client) -> None:
    campaign_id = seeded_campaign(api, "Paging campaign", 60, "paging.example")
    page.goto(f"/#/campaigns/{campaign_id}")
    expect(page.locator("#page-status")).to_contain_text("Page 1 of 3")
    page.get_by_role("button", name="Next").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 0
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#page-status")).to_contain_text("Page 2 of 3")
    first_row = page.locator("#leads tbody tr").first
    expect(first_row).to_be_in_viewport()
    box = first_row.bounding_box()
    assert box is not None and 0 <= box["y"] < 900 / 2, box


def test_an_empty_campaign_claims_no_validation_progress(page: Page, api: httpx.Client) -> None:
    campaign_id = create_campaign(api, "Nothing here yet")
    page.goto(f"/#/campaigns/{campaign_id}")
    summary = page.locator("#validation-summary")
    expect(summary).to_contain_text("0leads")
    expect(summary).not_to_contain_text("%")
    expect(page.get_by_role("progressbar", name="Validated")).to_have_count(0)
    expect(page.locator("#leads tbody")).to_have_text("No leads yet: import some above.")


def test_a_validator_that_does_not_answer_is_a_notice_not_an_alert(page: Page, api: httpx.Client) -> None:
    # The shared test stack runs no validator at all.
    campaign_id = seeded_campaign(api, "No validator", 1, "silent.example")
    page.goto(f"/#/campaigns/{campaign_id}")
    banner = page.locator("#validator-banner")
    expect(banner).to_have_text(
        "The validator is not answering. The counts below are current; verification resumes when it is back."
    )
    expect(banner).to_have_attribute("data-state", "unavailable")
    expect(page.get_by_role("alert")).to_have_count(0)


def test_leads_of_a_finished_import_are_announced_then_fill_in_live(
    page: Page, api: httpx.Client, stack: ServiceStack
) -> None:
    campaign_id = create_campaign(api, "Arriving campaign")
    workspace = uuid.UUID(api.get("/api/v1/workspace").json()["id"])
    import_id = uuid.uuid4()
    envelope = {"workspace_id": workspace, "campaign_id": uuid.UUID(campaign_id), "import_id": import_id}
    # The importer has finished (its ImportCompleted is projected) while its leads are still on their way to
    # the table, as when the projection is behind.
    publish_events(
        stack.nats_url,
        [
            ImportCompleted(
                **envelope, state=ImportState.COMPLETED, counts={"imported": 3, "invalid_format": 1}
            )
        ],
    )
    page.goto(f"/#/campaigns/{campaign_id}")
    body = page.locator("#leads tbody")
    expect(body).to_have_text(
        "3 leads from a finished import are on the way; they appear here as they arrive."
    )
    expect(body).not_to_contain_text("No leads yet")

    first = [ImportedLead(lead_id=uuid.uuid4(), email="arrived1@arriving.example", row=1)]
    publish_events(stack.nats_url, [LeadImported(**envelope, chunk=0, leads=first)])
    expect(body.locator("tr")).to_have_count(1, timeout=15_000)
    expect(body).to_contain_text("arrived1@arriving.example")
    expect(page.locator("#arriving")).to_have_text(
        "2 more leads from a finished import are on the way; they appear as they arrive."
    )
    rest = [
        ImportedLead(lead_id=uuid.uuid4(), email=f"arrived{row}@arriving.example", row=row) for row in (2, 4)
    ]
    publish_events(stack.nats_url, [LeadImported(**envelope, chunk=1, leads=rest)])
    expect(body.locator("tr")).to_have_count(3, timeout=15_000)
    expect(page.locator("#arriving")).to_be_hidden()
    expect(page.locator("#page-status")).to_contain_text("of 3 leads")
