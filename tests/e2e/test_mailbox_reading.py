"""Where reading a mailbox's replies stands, through the gateway, on the whole stack and a real Dovecot:
`GET /api/v1/mailboxes/{id}` and the list answer `imap_reading` from the inbox. A mailbox with the right
IMAP password becomes `reading`, one with a wrong password `failing` with Dovecot's refusal in words (and
`reading` once the password is put right); a mailbox without IMAP has none; and with the inbox stopped the
mailboxes are still answered at once, their reading `unknown`."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e.conftest import MAIL_PASSWORD
from tests.harness import ServiceStack, eventually
from tests.peers.dovecot import Dovecot
from tests.peers.submission import SubmissionServer

SENDER = "reading@leadflow.cz"


def body(name: str, smtp_server: SubmissionServer, imap: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "email": f"{name}@leadflow.cz",
        "name": name,
        "smtp": {
            "host": smtp_server.host,
            "port": smtp_server.port,
            "username": smtp_server.username,
            "password": "x",
            "security": "none",
        },
        "imap": imap,
    }


async def reading_of(own: httpx.AsyncClient, mailbox_id: str, state: str) -> dict[str, Any] | None:
    got = await own.get(f"/api/v1/mailboxes/{mailbox_id}")
    assert got.status_code == 200, got.text
    reading: dict[str, Any] = got.json()["imap_reading"]
    return reading if reading["state"] == state else None


async def test_reading_failing_with_the_servers_words_and_unknown_without_the_inbox(
    own: httpx.AsyncClient, dovecot: Dovecot, smtp_server: SubmissionServer, stack: ServiceStack
) -> None:
    imap = {"host": "localhost", "port": dovecot.port, "username": SENDER, "security": "starttls"}
    created = {}
    for name, password in [("good", MAIL_PASSWORD), ("wrong", "wrong horse")]:
        answer = await own.post(
            "/api/v1/mailboxes", json=body(name, smtp_server, {**imap, "password": password})
        )
        assert answer.status_code == 201, answer.text
        created[name] = answer.json()
        # Just added: the inbox has not connected yet (or already has).
        assert answer.json()["imap_reading"]["state"] in ("starting", "reading", "failing"), answer.text
    plain = await own.post("/api/v1/mailboxes", json=body("plain", smtp_server, None))
    assert plain.status_code == 201 and plain.json()["imap_reading"] is None, plain.text

    good = await eventually(lambda: reading_of(own, created["good"]["id"], "reading"), within=30)
    assert good["error"] is None and good["messages"] == 0 and good["checked_at"] is not None
    failing = await eventually(lambda: reading_of(own, created["wrong"]["id"], "failing"), within=30)
    assert failing["error"].startswith(f"IMAP login refused at localhost:{dovecot.port}: "), failing
    assert "authentication failed" in failing["error"].lower(), failing
    assert failing["checked_at"] is None

    # The list says the same, and nothing for the mailbox without IMAP; every other field is as before.
    listed = {m["id"]: m for m in (await own.get("/api/v1/mailboxes")).json()["items"]}
    assert listed[created["good"]["id"]]["imap_reading"]["state"] == "reading"
    assert listed[created["wrong"]["id"]]["imap_reading"]["error"] == failing["error"]
    assert listed[plain.json()["id"]] == plain.json()
    for name in ("good", "wrong"):
        assert {k: v for k, v in listed[created[name]["id"]].items() if k != "imap_reading"} == {
            k: v for k, v in created[name].items() if k != "imap_reading"
        }

    # The password put right: read at once (the inbox hears MailboxChanged and starts a new reader).
    fixed = await own.patch(
        f"/api/v1/mailboxes/{created['wrong']['id']}", json={"imap": {"password": MAIL_PASSWORD}}
    )
    assert fixed.status_code == 200, fixed.text
    now = await eventually(lambda: reading_of(own, created["wrong"]["id"], "reading"), within=30)
    assert now["error"] is None

    # Without the inbox the mailboxes are still answered, without waiting out the request timeout.
    inbox = stack.services["inbox"]
    inbox.stop()
    try:
        started = time.monotonic()
        got = await own.get(f"/api/v1/mailboxes/{created['good']['id']}")
        listed_without = await own.get("/api/v1/mailboxes")
        assert time.monotonic() - started < 8
        assert got.status_code == 200 and listed_without.status_code == 200, (got.text, listed_without.text)
        assert got.json()["imap_reading"] == {
            "state": "unknown",
            "error": None,
            "checked_at": None,
            "messages": None,
            "last_message_at": None,
        }
        assert {m["id"]: m["imap_reading"] for m in listed_without.json()["items"]}[
            plain.json()["id"]
        ] is None
    finally:
        inbox.start()
    await eventually(lambda: reading_of(own, created["good"]["id"], "reading"), within=30)
    for mailbox_id in [created["good"]["id"], created["wrong"]["id"], plain.json()["id"]]:
        assert (await own.delete(f"/api/v1/mailboxes/{mailbox_id}")).status_code == 204
