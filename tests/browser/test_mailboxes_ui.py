"""The Mailboxes page in the browser: add (a refused address said in words), test the login against a real
SMTP server (aiosmtpd with AUTH) and see what failed, edit the limits and the gap, delete. And how reading
each mailbox's replies goes (the inbox on a real Dovecot): reading and when checked, failing in the server's
words, connecting; a hostile error shown as text; the states looked at again without a reload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Page, expect

from services.runtime.db import psycopg_conninfo
from tests.browser.conftest import screenshot
from tests.harness import ServiceStack, require_installed
from tests.peers.dovecot import DOVECOT, Dovecot
from tests.peers.submission import SubmissionServer

IMAP_USER = "reader@mailbox-ui.example"
IMAP_PASSWORD = "correct horse"
HOSTILE = '<img src=x onerror="window.pwned=1"><b>bold</b> & more'


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


@pytest.fixture(scope="module")
def dovecot(stack: ServiceStack) -> Iterator[Dovecot]:
    require_installed(Path(DOVECOT), "apt-get install dovecot-imapd")
    peer = Dovecot(stack.mail_certificate, username=IMAP_USER, password=IMAP_PASSWORD).start()
    try:
        yield peer
    finally:
        peer.stop()


def add_with_imap(api: httpx.Client, email: str, smtp: SubmissionServer, imap: dict[str, Any]) -> str:
    body = {
        "email": email,
        "name": email.split("@")[0],
        "smtp": {"host": smtp.host, "port": smtp.port, "username": smtp.username, "security": "none"},
        "imap": imap,
    }
    created = api.post("/api/v1/mailboxes", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def set_reading(stack: ServiceStack, mailbox_id: str, error: str | None) -> None:
    """Take the mailbox away from the stack's inbox (another "replica" holds it for an hour, so its reader
    stops and writes nothing more) and give it `error`, never having been answered. Waits for the inbox to
    have heard of the mailbox (its MailboxChanged) first."""
    deadline = time.monotonic() + 15
    with psycopg.connect(psycopg_conninfo(stack.database_url), autocommit=True) as conn:
        while True:
            changed = conn.execute(
                "UPDATE inbox.mailboxes SET lease_owner = 'elsewhere', "
                "lease_until = now() + interval '1 hour', error = %s, read_at = NULL WHERE id = %s",
                (error, mailbox_id),
            ).rowcount
            if changed:
                return
            assert time.monotonic() < deadline, "the inbox never heard of the mailbox"
            time.sleep(0.1)


def test_each_mailbox_says_how_reading_its_replies_goes(
    page: Page, api: httpx.Client, smtp_server: SubmissionServer, dovecot: Dovecot, stack: ServiceStack
) -> None:
    imap = {"host": "localhost", "port": dovecot.port, "username": IMAP_USER, "security": "starttls"}
    good = add_with_imap(api, "good@reading-ui.example", smtp_server, {**imap, "password": IMAP_PASSWORD})
    wrong = add_with_imap(api, "wrong@reading-ui.example", smtp_server, {**imap, "password": "wrong horse"})
    held = add_with_imap(api, "held@reading-ui.example", smtp_server, {**imap, "password": IMAP_PASSWORD})

    set_reading(stack, held, None)

    page.goto("/#/mailboxes")
    reading = page.locator("#mailboxes tbody tr", has_text="good@reading-ui.example").locator(".imap-reading")
    failing = page.locator("#mailboxes tbody tr", has_text="wrong@reading-ui.example").locator(
        ".imap-reading"
    )
    connecting = page.locator("#mailboxes tbody tr", has_text="held@reading-ui.example").locator(
        ".imap-reading"
    )
    # Whatever the first load found, the page looks again by itself until each has settled.
    expect(reading).to_have_text("Reading replies · checked just now")
    expect(failing).to_contain_text(f"IMAP failing: IMAP login refused at localhost:{dovecot.port}: ")
    expect(failing).to_contain_text("Authentication failed")
    expect(connecting).to_have_text("Connecting…")
    screenshot(page, "mailboxes-imap-reading")

    # An error is shown as text, whatever it holds (the next look, without a reload).
    set_reading(stack, held, HOSTILE)
    expect(connecting).to_have_text(f"IMAP failing: {HOSTILE}")
    assert connecting.locator("img, b").count() == 0
    assert page.evaluate("window.pwned") is None

    # No IMAP settings: nothing said about reading.
    plain = api.post(
        "/api/v1/mailboxes",
        json={
            "email": "plain@reading-ui.example",
            "name": "plain",
            "smtp": {"host": smtp_server.host, "port": smtp_server.port, "security": "none"},
        },
    )
    assert plain.status_code == 201, plain.text
    page.reload()
    plain_row = page.locator("#mailboxes tbody tr", has_text="plain@reading-ui.example")
    expect(plain_row).to_contain_text("plain")
    expect(plain_row.locator(".imap-reading")).to_have_count(0)
    for mailbox_id in (good, wrong, held, plain.json()["id"]):
        assert api.delete(f"/api/v1/mailboxes/{mailbox_id}").status_code == 204
