"""The Unibox in the browser, in a workspace of each test's own: the messages of every campaign newest first,
unread ones bold, filtered by kind and read state; a message opened beside its lead's context (the lead,
the campaign, the thread sent, the decision, a bounce's status, an auto-reply's return date) and marked
read; "Mark as unread"; a reclassification shown with who made it, and the lead following it; a message
stored while the page is open appearing on top without a reload (only when the filters take it); a hostile
subject shown as text. Messages are stored and announced as the inbox's reader does (unibox_seed.py)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import get_args

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from contracts import InboundKind
from tests.browser.conftest import NARROW, screenshot
from tests.browser.unibox_seed import RETURN_DATE, Workspace, announce, workspace_with_leads
from tests.harness import ServiceStack
from tests.stack_fixtures import create_workspace_key

JANA, PETR, EVA = "jana@unibox-ui.example", "petr@unibox-ui.example", "eva@unibox-ui.example"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> Re: Hello'


@pytest.fixture
def key(stack: ServiceStack) -> str:
    return create_workspace_key(stack, "Acme sales")  # a workspace of its own (names need not be unique)


@pytest.fixture
def http(stack: ServiceStack, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def ui(context: BrowserContext, stack: ServiceStack, key: str) -> Iterator[Page]:
    """A page signed in to the test's workspace; it must log no console error."""
    signed_in = context.request.post(
        "/ui/session", data={"api_key": key}, headers={"Origin": stack.gateway_url}
    )
    assert signed_in.status == 204, signed_in.text()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield page
    assert errors == []


@pytest.fixture
def ws(http: httpx.Client, stack: ServiceStack) -> Workspace:
    return workspace_with_leads(http, stack, [JANA, PETR, EVA])


def row(page: Page, message_id: uuid.UUID) -> Locator:
    return page.locator(f"#unibox-list li[data-message-id='{message_id}']")


def fits_390(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the Unibox is {width}px wide"


def test_the_unibox_lists_filters_opens_marks_read_and_reclassifies(
    ui: Page, http: httpx.Client, ws: Workspace
) -> None:
    page = ui
    hello = ws.sent(JANA, 1, "Hello Jana", hours_ago=30)
    follow_up = ws.sent(JANA, 2, "Following up", hours_ago=3)
    to_petr = ws.sent(PETR, 1, "Hello Petr", hours_ago=5)
    ws.sent(EVA, 1, "Hello Eva", hours_ago=5)
    reply = ws.store(
        sender=JANA,
        subject="Re: Following up",
        text="Sounds good: call me on Tuesday.",
        lead=JANA,
        step=2,
        answers=follow_up,
        minutes_ago=5,
    )
    away = ws.store(
        sender=PETR,
        subject="Out of office: Hello Petr",
        text="I am away until 14 January.",
        kind="auto_reply",
        rule="wording.absence",
        lead=PETR,
        step=1,
        answers=to_petr,
        minutes_ago=30,
        return_date=RETURN_DATE,
    )
    bounce = ws.store(
        sender="MAILER-DAEMON@mx.unibox-ui.example",
        subject="Undelivered Mail Returned to Sender",
        text="The mail system could not deliver your message.",
        kind="hard_bounce",
        rule="dsn.status",
        lead=EVA,
        step=1,
        minutes_ago=60,
        status_code="5.1.1",
        diagnostic="smtp; 550 5.1.1 <eva@unibox-ui.example>: Recipient address rejected: User unknown",
        bounced_recipient=EVA,
        read=True,
    )
    newsletter = ws.store(
        sender="news@digest.example",
        subject="Weekly digest",
        text="This week in sales.",
        minutes_ago=120,
        read=True,
    )

    page.goto("/")
    page.get_by_role("link", name="Unibox").click()
    expect(page.get_by_role("heading", name="Unibox", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Unibox")).to_have_attribute("aria-current", "page")
    rows = page.locator("#unibox-list > li")
    expect(rows).to_have_count(4)
    expect(page.locator("#unibox-status")).to_have_text("4 messages shown.")
    # Newest first, across campaigns (and none); the unread bold.
    assert [rows.nth(i).get_attribute("data-message-id") for i in range(4)] == [
        str(reply),
        str(away),
        str(bounce),
        str(newsletter),
    ]
    expect(page.locator("#unibox-list > li.unread")).to_have_count(2)
    expect(row(page, reply).locator(".subject")).to_have_css("font-weight", "700")
    expect(row(page, bounce).locator(".subject")).to_have_css("font-weight", "400")
    expect(row(page, reply)).to_contain_text(f"{ws.campaign_name} · step 2")
    expect(row(page, newsletter)).to_contain_text("No campaign")
    # Every kind the inbox decides has its words in the filter.
    options = page.locator("#unibox-kind option").evaluate_all("os => os.map(o => o.value)")
    assert set(options) == {"", *get_args(InboundKind)}

    page.get_by_label("Kind").select_option("hard_bounce")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-message-id", str(bounce))
    page.get_by_label("Kind").select_option("delayed")
    expect(page.locator("#unibox-status")).to_have_text("No message matches these filters.")
    page.get_by_label("Kind").select_option("")
    page.get_by_label("Show").select_option("true")
    expect(rows).to_have_count(2)
    page.get_by_label("Show").select_option("")
    page.get_by_label("Campaign").select_option(ws.campaign_name)
    expect(rows).to_have_count(3)
    page.get_by_label("Campaign").select_option("")
    expect(rows).to_have_count(4)

    # Opened: the message beside its lead's context, and read.
    row(page, reply).get_by_role("button").click()
    detail = page.locator("#unibox-message")
    expect(detail.get_by_role("heading", name="Re: Following up")).to_be_visible()
    expect(detail.locator("#unibox-text")).to_have_text("Sounds good: call me on Tuesday.")
    context = detail.get_by_role("complementary", name="Lead context")
    expect(context.locator("#unibox-lead")).to_contain_text(JANA)
    expect(context.get_by_role("link", name=ws.campaign_name)).to_have_attribute(
        "href", f"#/campaigns/{ws.campaign_id}"
    )
    expect(context.locator("#unibox-thread li")).to_have_text(
        [re.compile(r"Step 1 · Hello Jana"), re.compile(r"Step 2 · Following up")]
    )
    expect(context.locator("#unibox-decision")).to_contain_text("KindReply")
    expect(context.locator("#unibox-decision")).to_contain_text("Ruledefault.person")
    expect(detail).to_contain_text(f"to {ws.mailbox_email}")
    expect(row(page, reply)).not_to_have_class(re.compile("unread"))
    assert http.get(f"/api/v1/inbox/messages/{reply}").json()["read"] is True
    full = detail.locator("#unibox-full-text")
    full.get_by_text("The whole message, quotes included").click()
    expect(full).to_contain_text("> Hello, shall we talk?")
    screenshot(page, "unibox")

    page.get_by_role("button", name="Mark as unread").click()
    expect(row(page, reply)).to_have_class(re.compile("unread"))
    expect(page.get_by_role("button", name="Mark as read")).to_be_visible()
    assert http.get(f"/api/v1/inbox/messages/{reply}").json()["read"] is False
    assert hello  # the thread's first send, shown above

    row(page, bounce).get_by_role("button").click()
    decision = page.locator("#unibox-decision")
    expect(decision).to_contain_text("KindHard bounce")
    expect(decision).to_contain_text("Status5.1.1")
    expect(decision).to_contain_text("Recipient address rejected: User unknown")
    expect(decision).to_contain_text(f"Failed address{EVA}")
    screenshot(page, "unibox-bounce")

    # An out-of-office overturned: it is a reply, the lead is Replied.
    row(page, away).get_by_role("button").click()
    expect(decision).to_contain_text("KindAuto-reply")
    expect(decision).to_contain_text(f"Back on{RETURN_DATE.isoformat()}")
    expect(page.get_by_role("button", name="Reclassify")).to_be_disabled()
    page.get_by_label("Reclassify as").select_option("reply")
    page.get_by_role("button", name="Reclassify").click()
    expect(decision).to_contain_text("KindReply")
    expect(decision).to_contain_text("Rulemanual")
    expect(decision).to_contain_text("First decidedAuto-reply (wording.absence)")
    expect(decision).to_contain_text(re.compile(r"Reclassified by.+\(lf_"))
    expect(page.locator("#unibox-kind-badge")).to_have_text("Reply")
    expect(row(page, away)).to_have_attribute("data-kind", "reply")
    deadline = time.monotonic() + 30
    while http.get(f"/api/v1/leads/{ws.leads[PETR]}").json()["status"] != "replied":
        assert time.monotonic() < deadline, "the lead did not follow the reclassification"
        time.sleep(0.2)

    page.set_viewport_size(NARROW)
    fits_390(page)
    expect(page.locator("#toast")).to_have_css("opacity", "0")  # "Reclassified as Reply." has gone
    page.locator("#unibox-list").scroll_into_view_if_needed()
    screenshot(page, "unibox-390")


def test_a_message_stored_while_the_page_is_open_appears_without_a_reload(ui: Page, ws: Workspace) -> None:
    page = ui
    earlier = ws.store(
        sender=JANA, subject="Re: Hello", text="Earlier reply.", lead=JANA, step=1, minutes_ago=60
    )
    page.goto("/#/unibox")
    rows = page.locator("#unibox-list > li")
    expect(rows).to_have_count(1)
    page.get_by_label("Kind").select_option("reply")
    expect(rows).to_have_count(1)

    # An out-of-office the filter does not take, then a reply it does: only the reply shows, on top.
    away = ws.store(
        sender=PETR, subject="Out of office", text="Away.", kind="auto_reply", rule="wording.absence"
    )
    fresh = ws.store(sender=EVA, subject="Re: Hello Eva", text="Yes, let's talk.", lead=EVA, step=1)
    events = [ws.announcement(away, "auto_reply", PETR), ws.announcement(fresh, "reply", EVA)]
    # The page opens its stream once the list is shown; announced again until it has heard (harmless).
    deadline = time.monotonic() + 20
    while True:
        announce(ws.stack.nats_url, events)
        try:
            expect(rows).to_have_count(2, timeout=1_000)
            break
        except AssertionError:
            assert time.monotonic() < deadline, "the new message never appeared"
    assert rows.first.get_attribute("data-message-id") == str(fresh)
    expect(rows.first).to_have_class(re.compile("unread"))
    expect(rows.nth(1)).to_have_attribute("data-message-id", str(earlier))
    expect(page.locator("#unibox-status")).to_contain_text("1 new just arrived")
    expect(row(page, away)).to_have_count(0)

    page.get_by_label("Kind").select_option("")
    expect(rows).to_have_count(3)


def test_a_hostile_subject_and_text_render_as_text(ui: Page, ws: Workspace) -> None:
    page = ui
    hostile = ws.store(
        sender='"<b>Mallory</b>" <mallory@evil.example>',
        subject=HOSTILE,
        text='<a href="javascript:alert(1)">click</a><script>window.pwned=3</script>',
        minutes_ago=1,
    )
    page.goto("/#/unibox")
    item = row(page, hostile)
    expect(item.locator(".subject")).to_contain_text(HOSTILE)
    item.get_by_role("button").click()
    detail = page.locator("#unibox-message")
    expect(detail.locator("#unibox-subject")).to_have_text(HOSTILE)
    expect(detail.locator("#unibox-text")).to_have_text(
        '<a href="javascript:alert(1)">click</a><script>window.pwned=3</script>'
    )
    expect(detail.locator("#unibox-from")).to_contain_text("<b>Mallory</b>")
    # Nothing of it became markup: no image, script, link or bold from the message, and nothing ran.
    assert page.locator("#app img, #app script, #unibox-message a[href^=javascript], #app b").count() == 0
    assert page.evaluate("window.pwned") is None

    page.set_viewport_size(NARROW)
    fits_390(page)
