"""A campaign's Sequence tab in the browser: write steps, insert variables, reorder, save; every refusal of
the sequencer (422) shown next to its step; the saved steps back after a reload."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.seed import create_campaign, import_csv, wait_for_leads


def test_write_reorder_and_save_a_sequence_with_each_error_next_to_its_step(
    page: Page, api: httpx.Client
) -> None:
    campaign_id = create_campaign(api, "Sequenced in the browser")
    page.goto(f"/#/campaigns/{campaign_id}")
    page.get_by_role("link", name="Sequence", exact=True).click()
    expect(page.get_by_role("heading", name="Steps")).to_be_visible()
    expect(page.locator("#steps > li")).to_have_count(1)

    page.get_by_label("Subject").fill("Hi ")
    page.get_by_role("button", name="{{first_name}}").click()  # inserted where the cursor is
    page.get_by_label("Body").fill("Hello from us.")
    page.get_by_role("button", name="Add step").click()
    page.locator("#step-2-subject").fill("Checking in, {{frist_name}}")
    page.locator("#step-2-body").fill("Did you see {{company_name|my note}}? {{")
    page.locator("#step-2-delay").fill("3")
    page.locator("#step-2-unit").select_option("days")
    page.get_by_role("button", name="Add step").click()
    page.locator("#step-3-body").fill("Last note.")
    page.get_by_role("button", name="Save sequence").click()

    second = page.locator("#steps > li[data-step='2'] .step-errors")
    expect(second).to_contain_text("Subject: unknown variable 'frist_name' (did you mean 'first_name'?)")
    expect(second).to_contain_text("Body: '{{' is never closed")
    expect(page.locator("#steps > li[data-step='1'] .step-errors")).to_have_count(0)
    expect(page.locator("#step-2-subject")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "sequence-errors")
    assert api.get(f"/api/v1/campaigns/{campaign_id}").json()["steps"] == []

    page.locator("#step-2-subject").fill("")  # a follow-up in step 1's thread
    page.locator("#step-2-body").fill("Did you see {{company_name|my note}}?")
    page.get_by_role("button", name="Move step 3 up").click()
    expect(page.locator("#step-2-body")).to_have_value("Last note.")
    page.get_by_role("button", name="Save sequence").click()
    expect(page.locator(".step-errors")).to_have_count(0)
    expect(page.locator("#toast")).to_have_text("Sequence saved.")
    steps = api.get(f"/api/v1/campaigns/{campaign_id}").json()["steps"]
    assert steps == [
        {"subject": "Hi {{first_name}}", "body": "Hello from us.", "delay_minutes": 0},
        {"subject": "", "body": "Last note.", "delay_minutes": 2880},
        {"subject": "", "body": "Did you see {{company_name|my note}}?", "delay_minutes": 4320},
    ]

    page.reload()
    expect(page.locator("#steps > li")).to_have_count(3)
    expect(page.locator("#step-3-delay")).to_have_value("3")
    expect(page.locator("#step-3-unit")).to_have_value("days")
    page.get_by_role("button", name="Remove step 2").click()
    expect(page.locator("#steps > li")).to_have_count(2)
    expect(page.locator("#step-2-body")).to_have_value("Did you see {{company_name|my note}}?")
    screenshot(page, "sequence-editor")


def test_preview_the_steps_being_edited_for_a_chosen_lead(page: Page, api: httpx.Client) -> None:
    campaign_id = create_campaign(api, "Previewed in the browser")
    import_csv(
        api,
        campaign_id,
        "email,first_name,company,Segment\nana@preview-ui.example,Ana,Firma,VIP\nbob@preview-ui.example,,Jina,\n",
        {"email": "email", "first_name": "first_name", "company_name": "company"},
    )
    wait_for_leads(api, campaign_id, 2)
    page.goto(f"/#/campaigns/{campaign_id}/sequence")
    expect(page.locator("#preview-lead option")).to_have_count(2)
    expect(page.get_by_role("button", name="{{custom.Segment}}")).to_be_visible()  # the chosen lead's columns

    page.get_by_label("Subject").fill("Hi {{first_name}} at {{company_name|your company}}")
    page.get_by_label("Body").fill("Segment: ")
    page.get_by_role("button", name="{{custom.Segment}}").click()
    page.get_by_label("Lead", exact=True).select_option(label="ana@preview-ui.example · Firma")
    page.get_by_role("button", name="Preview for this lead").click()
    step = page.locator("#preview-result li[data-step='1']")
    expect(step.locator(".preview-subject")).to_have_text("Subject: Hi Ana at Firma")
    expect(step.locator("pre")).to_have_text("Segment: VIP")

    page.get_by_label("Lead", exact=True).select_option(label="bob@preview-ui.example · Jina")
    page.get_by_role("button", name="Preview for this lead").click()
    expect(page.locator("#preview-result li[data-step='1'] .banner")).to_contain_text(
        "Not sent to this lead: no value for first_name"
    )
    screenshot(page, "sequence-preview")
    assert api.get(f"/api/v1/campaigns/{campaign_id}").json()["steps"] == []  # previewed, not saved
