"""The lead drawer's timeline says each event in words; ids and raw values only behind "Details"."""

from __future__ import annotations

import re
import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from contracts import (
    AutoReplyDetected,
    EmailBounced,
    EmailSent,
    LeadCompleted,
    LeadUnsubscribed,
    LeadValidated,
    ReplyDetected,
    StepNotSendable,
    Verdict,
)
from contracts.events import Event, InboundReclassified, LeadsValidated, SequenceStopped, ValidatedLead
from services.validator.verdicts import Reason, verdict_of
from tests.browser.conftest import screenshot
from tests.browser.seed import create_campaign, import_csv, publish_events, wait_for_leads
from tests.harness import ServiceStack

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INVALID = " — marked Invalid"
UNKNOWN = " — will be shown as Unknown"
# What the drawer says for each of the validator's reason codes (services/validator/verdicts.py `Reason`).
REASON_WORDS = {
    "accepted": "the mail server accepted the address",
    "invalid_syntax": f"the address is not well-formed{INVALID}",
    "no_such_domain": f"the domain does not exist{INVALID}",
    "null_mx": f"the domain declares that it accepts no mail{INVALID}",
    "no_mail_server": f"the domain has no mail server{INVALID}",
    "mailbox_not_found": f"the mail server says this mailbox does not exist{INVALID}",
    "mailbox_full": f"the mailbox is full{INVALID}",
    "catch_all": f"the domain accepts any address, so this one cannot be confirmed{UNKNOWN}",
    "policy_block": "the mail server refused our check (a block aimed at the checker, not at the address)"
    + UNKNOWN,
    "greylisted": f"the mail server kept asking us to try again later (greylisting){UNKNOWN}",
    "temporary_failure": f"the mail server reported a temporary failure{UNKNOWN}",
    "smtp_rejected": f"the mail server refused the address without saying why{UNKNOWN}",
    "dns_timeout": f"DNS lookup timed out{UNKNOWN}",
    "dns_error": f"the DNS lookup failed{UNKNOWN}",
    "mx_unreachable": f"none of the domain's mail servers could be reached{UNKNOWN}",
    "smtp_timeout": f"the mail server did not answer in time{UNKNOWN}",
    "prober_blocked": "our checks looked blocked, so the lead waits for a later pass",
    "dns_unhealthy": "our DNS resolver looked broken, so the lead waits for a later pass",
}
VERDICT_TITLES = {
    Verdict.VALID: "Verified",
    Verdict.INVALID: "Invalid address",
    Verdict.UNKNOWN: "Could not be verified",
}


def two_leads(api: httpx.Client, name: str, domain: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    campaign_id = create_campaign(api, name)
    import_csv(api, campaign_id, f"email\nfirst@{domain}\nsecond@{domain}\n", {"email": "email"})
    first, second = sorted(wait_for_leads(api, campaign_id, 2)["items"], key=lambda lead: lead["email"])
    return campaign_id, first, second


def wait_for_timeline(api: httpx.Client, lead_id: str, length: int) -> None:
    deadline = time.monotonic() + 30
    while len(api.get(f"/api/v1/leads/{lead_id}").json()["timeline"]) < length:
        assert time.monotonic() < deadline, f"the timeline of {lead_id} stays short of {length}"
        time.sleep(0.2)


def entries(page: Page, email: str) -> Any:
    page.get_by_role("button", name=email).click()
    drawer = page.locator("#lead-drawer")
    expect(drawer.get_by_role("heading", name=email)).to_be_visible()
    return drawer.get_by_role("list", name="Timeline").locator(":scope > li")


def test_every_validator_reason_reads_as_words_and_a_rerun_as_re_verified(
    page: Page, api: httpx.Client, stack: ServiceStack
) -> None:
    assert set(REASON_WORDS) == {reason.value for reason in Reason}, "a reason code without words"
    campaign_id, lead, batched = two_leads(api, "Verdicts in words", "verdicts.example")
    envelope = {
        "workspace_id": uuid.UUID(api.get("/api/v1/workspace").json()["id"]),
        "campaign_id": uuid.UUID(campaign_id),
    }
    start = datetime.fromisoformat(lead["last_activity_at"])
    verdicts: list[Event] = [
        LeadValidated(
            **envelope,
            lead_id=uuid.UUID(lead["id"]),
            occurred_at=start + timedelta(milliseconds=10 * (i + 1)),
            email=lead["email"],
            verdict=verdict_of(reason),
            reason=reason.value,
            mx="mx1.verdicts.example",
            smtp_code=250 if reason is Reason.ACCEPTED else None,
            role=reason is Reason.CATCH_ALL,
        )
        for i, reason in enumerate(Reason)
    ]
    verdicts.append(
        LeadValidated(
            **envelope,
            lead_id=uuid.UUID(lead["id"]),
            occurred_at=start + timedelta(seconds=1),
            email=lead["email"],
            verdict=Verdict.VALID,
            reason="accepted",
            mx="mx1.verdicts.example",
            smtp_code=250,
            run=1,
        )
    )
    verdicts.append(
        LeadsValidated(
            **envelope,
            occurred_at=start + timedelta(milliseconds=10),
            leads=[
                ValidatedLead(
                    lead_id=uuid.UUID(batched["id"]),
                    email=batched["email"],
                    verdict=Verdict.UNKNOWN,
                    reason="dns_timeout",
                    disposable=True,
                )
            ],
        )
    )
    publish_events(stack.nats_url, verdicts)
    wait_for_timeline(api, lead["id"], 1 + len(Reason) + 1)
    wait_for_timeline(api, batched["id"], 2)

    page.goto(f"/#/campaigns/{campaign_id}")
    timeline = entries(page, lead["email"])
    expect(timeline).to_have_count(1 + len(Reason) + 1)
    expect(timeline.nth(0)).to_contain_text("Imported: from row 1 of its import")
    for i, reason in enumerate(Reason, start=1):
        expect(timeline.nth(i).locator(".what")).to_have_text(
            f"{VERDICT_TITLES[verdict_of(reason)]}: {REASON_WORDS[reason.value]}"
        )
    expect(timeline.nth(len(Reason) + 1).locator(".what")).to_have_text(
        "Re-verified: the mail server accepted the address"
    )
    catch_all = timeline.nth(1 + list(Reason).index(Reason.CATCH_ALL))
    expect(catch_all.locator(".tags")).to_have_text("Role address (a team or function, not a person)")
    visible = timeline.first.locator("xpath=..").inner_text()
    for internal in ("role:", "catch all:", "reason:", "smtp code", "mx1.verdicts.example", "dns_timeout"):
        assert internal not in visible, internal

    rerun = timeline.nth(len(Reason) + 1)
    rerun.get_by_text("Details").click()
    details = rerun.locator("details dl")
    expect(details).to_contain_text("mx1.verdicts.example")
    expect(details).to_contain_text("run1")
    screenshot(page, "lead-drawer-verdicts")
    page.keyboard.press("Escape")

    batch = entries(page, batched["email"])
    expect(batch).to_have_count(2)
    expect(batch.nth(1).locator(".what")).to_have_text(
        "Could not be verified: DNS lookup timed out — will be shown as Unknown"
    )
    expect(batch.nth(1).locator(".tags")).to_have_text("Disposable-address provider")


def test_every_lead_event_reads_as_words_with_ids_only_on_demand(
    page: Page, api: httpx.Client, stack: ServiceStack
) -> None:
    campaign_id, lead, _ = two_leads(api, "Events in words", "events.example")
    # Three steps, as the events below say: the stack's sequencer follows them (a campaign without steps would
    # see its last step in the EmailSent and complete the lead itself).
    steps = [{"subject": "Our offer", "body": "Hello", "delay_minutes": 60}] * 3
    assert api.put(f"/api/v1/campaigns/{campaign_id}/sequence", json={"steps": steps}).status_code == 200
    lead_id = uuid.UUID(lead["id"])
    common = {
        "workspace_id": uuid.UUID(api.get("/api/v1/workspace").json()["id"]),
        "campaign_id": uuid.UUID(campaign_id),
        "lead_id": lead_id,
    }
    # After the import, before the manual change below (which the gateway stamps with its own clock).
    imported_at = datetime.fromisoformat(lead["last_activity_at"])
    at = [imported_at + timedelta(milliseconds=10 * (i + 1)) for i in range(10)]
    message = "<m1@acme.example>"
    publish_events(
        stack.nats_url,
        [
            LeadValidated(
                **common,
                occurred_at=at[0],
                email=lead["email"],
                verdict=Verdict.VALID,
                reason="accepted",
                mx="mx.events.example",
                smtp_code=250,
            ),
            EmailSent(
                **common,
                occurred_at=at[1],
                step=1,
                total_steps=3,
                message_id=message,
                mailbox="sales@acme.example",
                mailbox_id=uuid.UUID(int=1),
            ),
            StepNotSendable(**common, occurred_at=at[2], step=2, total_steps=3, missing=["first_name"]),
            AutoReplyDetected(
                **common,
                occurred_at=at[3],
                message_id="<a1@events.example>",
                from_address=lead["email"],
                subject_line="Out of office",
                return_date=date(2027, 1, 12),
            ),
            EmailBounced(
                **common,
                occurred_at=at[4],
                source="smtp",
                kind="soft",
                smtp_code=452,
                email=lead["email"],
                diagnostic="4.2.2 Mailbox over quota",
            ),
            ReplyDetected(
                **common,
                occurred_at=at[5],
                message_id="<r1@events.example>",
                from_address=lead["email"],
                subject_line="Re: Our offer",
                snippet="Sounds good, call me on Monday.",
            ),
            LeadUnsubscribed(**common, occurred_at=at[6], email=lead["email"], source="one_click"),
            LeadCompleted(**common, occurred_at=at[7], total_steps=3),
            InboundReclassified(
                **common,
                occurred_at=at[8],
                inbox_message_id=uuid.uuid4(),
                from_kind="auto_reply",
                to_kind="reply",
                by="Ana (lf_abc…)",
            ),
            SequenceStopped(
                **common,
                occurred_at=at[9],
                reason="company replied",
                replied_lead_id=uuid.uuid4(),
                domain="acme.cz",
            ),
        ],
    )
    wait_for_leads(api, campaign_id, 1, status="replied")
    job = api.post(
        f"/api/v1/campaigns/{campaign_id}/leads/bulk",
        json={
            "action": "set_status",
            "status": "replied",
            "ids": [lead["id"]],
            "reason": "Called back by phone",
        },
    )
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 30
    while api.get(f"/api/v1/jobs/{job.json()['id']}").json()["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    wait_for_timeline(api, lead["id"], 12)
    page.goto(f"/#/campaigns/{campaign_id}")
    timeline = entries(page, lead["email"])
    expect(timeline).to_have_count(12)
    what = timeline.locator(".what")
    expect(what).to_have_text(
        [
            "Imported: from row 1 of its import",
            "Verified: the mail server accepted the address",
            "Email sent: step 1 of 3 from sales@acme.example",
            "Not sendable: step 2 of 3 needs first_name, which this lead has no value for — not sent",
            f"Automatic reply: from {lead['email']}: “Out of office” — an out-of-office or similar, not counted as a"
            " reply; back on 2027-01-12, the next step waits until after it",
            "Soft bounce: a temporary delivery problem: the receiving server refused it while sending (SMTP 452)",
            f"Replied: from {lead['email']}: “Re: Our offer”",
            "Unsubscribed: with the one-click button of their mail app",
            "Sequence completed: all 3 steps sent",
            "Decision overturned: automatic reply → reply, by Ana (lf_abc…)",
            "Sequence stopped: someone else at acme.cz replied",
            re.compile(r"^Status set to Replied: by .+ \(bulk change\) — “Called back by phone”$"),
        ]
    )
    expect(timeline.nth(6).locator("blockquote")).to_have_text("Sounds good, call me on Monday.")
    visible = page.locator("#lead-drawer ol.timeline").inner_text()
    assert not UUID_TEXT.search(visible), visible
    for internal in ("job id", "message id", message, "role:", "catch all:"):
        assert internal not in visible, internal
    screenshot(page, "lead-drawer")

    manual = timeline.nth(11)
    manual.get_by_text("Details").click()
    expect(manual.locator("details dl")).to_contain_text(job.json()["id"])
    sent = timeline.nth(2)
    sent.get_by_text("Details").click()
    expect(sent.locator("details dl")).to_contain_text(message)
