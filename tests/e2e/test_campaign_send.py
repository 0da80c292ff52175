"""A whole campaign, end to end, on the real stack: leads imported and validated, a 3-step sequence sent
through a submission server with STARTTLS and AUTH (presenting the stack's private CA), every lead that may
be sent reaching Completed with each step received exactly once and threaded; the invalid lead and the
suppressed address never receive anything; an unsubscribe link from a received message works."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from nats.aio.client import Client

from contracts import Verdict
from services.runtime.thread_index import conversation_for, conversation_guid
from tests.e2e.api import create_campaign, publish_verdicts, start_import, wait_for_import, wait_for_leads
from tests.e2e.conftest import MAIL_PASSWORD
from tests.harness import eventually
from tests.peers.submission import Received, SubmissionServer

CSV = (
    b"email,first_name,company\n"
    b"ana@firma.cz,Ana,Firma\n"
    b"petr@firma.cz,Petr,Firma\n"
    b"jana@jina.cz,,Jina\n"
    b"gone@firma.cz,Gone,Firma\n"
    b"blocked@firma.cz,Blocked,Firma\n"
)
MAPPING = {"email": "email", "first_name": "first_name", "company_name": "company"}
STEPS = [
    {
        "subject": "Hi {{first_name|there}}",
        "body": "Hello {{first_name|there}} at {{company_name}}.",
        "delay_minutes": 0,
    },
    {"subject": "", "body": "Following up, {{first_name|there}}.", "delay_minutes": 0},
    {"subject": "", "body": "Last note from me.", "delay_minutes": 0},
]
SENDABLE = {"ana@firma.cz", "petr@firma.cz", "jana@jina.cz"}


def by_lead(received: list[Received]) -> dict[str, list[Received]]:
    found: dict[str, list[Received]] = {}
    for message in received:
        for rcpt in message.rcpt_tos:
            found.setdefault(rcpt, []).append(message)
    return found


async def test_a_three_step_campaign_reaches_completed_exactly_once_and_threaded(
    own: httpx.AsyncClient, starttls_smtp: SubmissionServer, nc: Client
) -> None:
    mailbox = await own.post(
        "/api/v1/mailboxes",
        json={
            "email": "sales@leadflow.cz",
            "name": "Sales",
            "smtp": {
                "host": "localhost",
                "port": starttls_smtp.port,
                "username": starttls_smtp.username,
                "password": MAIL_PASSWORD,
                "security": "starttls",
            },
            "daily_limit": 100,
            "min_gap_seconds": 0,
        },
    )
    assert mailbox.status_code == 201, mailbox.text
    campaign_id = await create_campaign(own, "Three steps")
    settings = await own.patch(
        f"/api/v1/campaigns/{campaign_id}",
        json={"mailbox_ids": [mailbox.json()["id"]], "wait_for_validation": True, "send_to_unknown": False},
    )
    assert settings.status_code == 200, settings.text
    sequence = await own.put(f"/api/v1/campaigns/{campaign_id}/sequence", json={"steps": STEPS})
    assert sequence.status_code == 200, sequence.text
    imported = await wait_for_import(own, (await start_import(own, campaign_id, CSV, MAPPING))["id"])
    assert imported["state"] == "completed", imported
    assert imported["counts"]["imported"] == 5, imported
    leads = (await wait_for_leads(own, campaign_id, 5))["items"]
    # Suppressed after its import: only the mailer's check right before sending can keep it from a send.
    suppressed = await own.post("/api/v1/suppressions", json={"email": "blocked@firma.cz"})
    assert suppressed.status_code in (200, 201), suppressed.text
    workspace_id = UUID((await own.get("/api/v1/workspace")).json()["id"])
    verdicts = [
        (lead, Verdict.INVALID if lead["email"] == "gone@firma.cz" else Verdict.VALID, "checked")
        for lead in leads
    ]
    await publish_verdicts(nc, workspace_id, campaign_id, verdicts)

    activated = await own.post(f"/api/v1/campaigns/{campaign_id}/activate")
    assert activated.status_code == 200, activated.text

    async def completed() -> dict[str, str] | None:
        listed = (await own.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 50})).json()
        statuses = {lead["email"]: lead["status"] for lead in listed["items"]}
        done = all(statuses.get(email) == "completed" for email in SENDABLE)
        return statuses if done else None

    statuses = await eventually(completed, within=90)
    assert statuses["gone@firma.cz"] == "invalid"
    assert statuses["blocked@firma.cz"] != "completed"

    # Nothing more arrives: no step is sent twice, however long we wait.
    await asyncio.sleep(3)
    received = by_lead(starttls_smtp.received)
    assert set(received) == SENDABLE, sorted(received)
    for email, messages in received.items():
        assert len(messages) == 3, (email, [m.message["Subject"] for m in messages])
        ids = [m.message["Message-ID"] for m in messages]
        assert len(set(ids)) == 3
        first, second, third = (m.message for m in messages)
        assert second["In-Reply-To"] == ids[0] and third["In-Reply-To"] == ids[1]
        assert third["References"].split() == ids[:2]
        assert second["Subject"] == third["Subject"] == "Re: " + first["Subject"]
        conversations = {conversation_guid(m["Thread-Index"]) for m in (first, second, third)}
        assert conversations == {conversation_for(ids[0])}
        assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert first["From"].addresses[0].addr_spec == "sales@leadflow.cz"
        assert first.get_body(("plain",)) is not None
    ana = received["ana@firma.cz"][0].message
    assert ana["Subject"] == "Hi Ana"
    plain = ana.get_body(("plain",))
    assert plain is not None and "Hello Ana at Firma." in plain.get_content()
    assert received["jana@jina.cz"][0].message["Subject"] == "Hi there"
    assert Counter(m.mail_from for ms in received.values() for m in ms) == {"sales@leadflow.cz": 9}
    assert starttls_smtp.logins and all(accepted for _, accepted in starttls_smtp.logins)

    # Every lead has finished (three completed, the invalid and the suppressed ones stopped), and so has
    # the campaign.
    async def campaign_completed() -> bool:
        return bool((await own.get(f"/api/v1/campaigns/{campaign_id}")).json()["status"] == "completed")

    await eventually(campaign_completed, within=30)

    # The one-click link of a received message unsubscribes its lead, as a mail provider would post it.
    # (The link's origin is the stack's public URL; the test posts its path to the test gateway.)
    link = urlsplit(received["petr@firma.cz"][0].message["List-Unsubscribe"].strip("<>"))
    assert link.path.startswith("/u/")
    answered = await own.post(
        link.path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answered.status_code == 200, answered.text

    async def unsubscribed() -> bool:
        listed = (await own.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 50})).json()
        return any(
            lead["email"] == "petr@firma.cz" and lead["status"] == "unsubscribed" for lead in listed["items"]
        )

    await eventually(unsubscribed, within=30)
    deadline = time.monotonic() + 30
    while (await own.get("/api/v1/suppressions", params={"q": "petr@"})).json()["total"] == 0:
        assert time.monotonic() < deadline, "the unsubscribed address was never suppressed"
        await asyncio.sleep(0.2)
