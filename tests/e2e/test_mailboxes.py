"""Sender mailboxes through the gateway and the mailer: create → list → get → patch → test → delete, scoped to
the workspace, refused settings answered 422, and no password in any answer or stored in the clear; the
inbox's view of them (`list_imap_logins`, encrypted, and a `MailboxChanged` on the stream for each change)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from nats.aio.client import Client

from contracts import subjects
from contracts.commands import ImapLogin, ImapLoginPage, ListImapLogins
from services.runtime.db import psycopg_conninfo
from services.runtime.secrets import Secrets
from tests.e2e.api import stream_events, workspace_id_of
from tests.harness import ServiceStack, eventually
from tests.peers.submission import Certificate, SubmissionServer
from tests.stack_fixtures import create_workspace_key

PASSWORD = "correct horse"
IMAP_PASSWORD = "battery staple"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SubmissionServer]:
    # AUTH without TLS: the mailer trusts the system's certificate authorities, not a test's.
    peer = SubmissionServer(Certificate.self_signed(), security="none", password=PASSWORD).start()
    try:
        yield peer
    finally:
        peer.stop()


def mailbox_body(server: SubmissionServer, **changes: Any) -> dict[str, Any]:
    body = {
        "email": "ana@example.com",
        "name": "Ana",
        "smtp": {
            "host": server.host,
            "port": server.port,
            "username": server.username,
            "password": PASSWORD,
            "security": "none",
        },
    }
    return body | changes


def no_password_in(response: httpx.Response) -> httpx.Response:
    assert "password" not in response.text and PASSWORD not in response.text, response.text
    return response


async def test_a_mailbox_from_creation_to_deletion(
    client: httpx.AsyncClient, smtp_server: SubmissionServer, stack: ServiceStack
) -> None:
    created = no_password_in(await client.post("/api/v1/mailboxes", json=mailbox_body(smtp_server)))
    assert created.status_code == 201, created.text
    mailbox = created.json()
    mailbox_id = mailbox["id"]
    assert (mailbox["daily_limit"], mailbox["min_gap_seconds"], mailbox["imap"]) == (30, 120, None)
    assert mailbox["smtp"] == {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "username": smtp_server.username,
        "security": "none",
    }

    listed = no_password_in(await client.get("/api/v1/mailboxes"))
    assert listed.status_code == 200
    assert mailbox_id in [m["id"] for m in listed.json()["items"]]
    got = no_password_in(await client.get(f"/api/v1/mailboxes/{mailbox_id}"))
    assert got.json() == mailbox

    with psycopg.connect(psycopg_conninfo(stack.database_url)) as conn:
        stored = conn.execute(
            "SELECT smtp_password_encrypted FROM mailer.mailboxes WHERE id = %s", (mailbox_id,)
        ).fetchone()
    assert stored is not None and PASSWORD not in stored[0]

    tested = no_password_in(await client.post(f"/api/v1/mailboxes/{mailbox_id}/test"))
    assert tested.status_code == 200, tested.text
    assert tested.json() == {"ok": True, "smtp": {"ok": True, "error": None}, "imap": None}

    patched = no_password_in(
        await client.patch(
            f"/api/v1/mailboxes/{mailbox_id}",
            json={"name": "Ana B.", "daily_limit": 50, "smtp": {"password": "no"}},
        )
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["daily_limit"]) == ("Ana B.", 50)
    assert patched.json()["smtp"] == mailbox["smtp"]
    failing = no_password_in(await client.post(f"/api/v1/mailboxes/{mailbox_id}/test"))
    assert failing.json()["ok"] is False
    assert "authentication failed" in failing.json()["smtp"]["error"]

    deleted = await client.delete(f"/api/v1/mailboxes/{mailbox_id}")
    assert deleted.status_code == 204
    assert (await client.get(f"/api/v1/mailboxes/{mailbox_id}")).status_code == 404


async def test_another_workspaces_mailbox_is_not_found(
    client: httpx.AsyncClient, smtp_server: SubmissionServer, stack: ServiceStack
) -> None:
    created = await client.post("/api/v1/mailboxes", json=mailbox_body(smtp_server))
    mailbox_id = created.json()["id"]
    other_key = create_workspace_key(stack, "Other mailboxes")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        for method, path in [
            ("GET", ""),
            ("PATCH", ""),
            ("DELETE", ""),
            ("POST", "/test"),
        ]:
            body = {"name": "Taken"} if method == "PATCH" else None
            response = await other.request(method, f"/api/v1/mailboxes/{mailbox_id}{path}", json=body)
            assert response.status_code == 404, (method, path, response.text)
        assert mailbox_id not in [m["id"] for m in (await other.get("/api/v1/mailboxes")).json()["items"]]
    still = await client.get(f"/api/v1/mailboxes/{mailbox_id}")
    assert still.status_code == 200 and still.json()["name"] == "Ana"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"email": "not an address"}, "is not an address"),
        ({"daily_limit": 0}, "daily limit 0 is not between 1 and 100000"),
        ({"daily_limit": 51_243_736_868_570}, "daily limit 51243736868570 is not between 1 and 100000"),
        ({"min_gap_seconds": -1}, "minimum gap -1 s is not between 0 and 86400 s"),
        ({"smtp": {"host": "smtp.example.com", "port": 70000, "security": "tls"}}, "port 70000"),
        ({"smtp": {"host": "smtp.example.com", "port": 465, "security": "ssl"}}, "security"),
    ],
)
async def test_refused_settings_answer_422_in_words(
    client: httpx.AsyncClient, smtp_server: SubmissionServer, changes: dict[str, Any], words: str
) -> None:
    response = await client.post("/api/v1/mailboxes", json=mailbox_body(smtp_server, **changes))
    assert response.status_code == 422, response.text
    assert words in response.text


async def imap_login_of(nc: Client, mailbox_id: UUID) -> ImapLogin | None:
    """The mailbox's login as the inbox reads it: the mailer's pages across every workspace."""
    after: UUID | None = None
    while True:
        reply = await nc.request(
            subjects.command_subject("mailer", "list_imap_logins"),
            ListImapLogins(after=after).model_dump_json().encode(),
            timeout=10,
        )
        page = ImapLoginPage.model_validate_json(reply.data)
        found = [login for login in page.items if login.mailbox_id == mailbox_id]
        if found or page.next_after is None:
            return found[0] if found else None
        after = page.next_after


async def test_the_inbox_reads_an_imap_login_encrypted_and_hears_of_every_change(
    client: httpx.AsyncClient, nc: Client, smtp_server: SubmissionServer, stack: ServiceStack
) -> None:
    workspace_id = await workspace_id_of(client)
    imap = {
        "host": "imap.example.com",
        "port": 993,
        "username": "ana@example.com",
        "password": IMAP_PASSWORD,
        "security": "tls",
    }
    created = no_password_in(
        await client.post("/api/v1/mailboxes", json=mailbox_body(smtp_server, imap=imap))
    )
    assert created.status_code == 201, created.text
    mailbox_id = UUID(created.json()["id"])

    login = await imap_login_of(nc, mailbox_id)
    assert login is not None
    assert (login.workspace_id, login.email, login.host, login.port, login.username, login.security) == (
        workspace_id,
        "ana@example.com",
        "imap.example.com",
        993,
        "ana@example.com",
        "tls",
    )
    assert IMAP_PASSWORD not in login.password_encrypted
    assert Secrets.from_value(stack.secret_key).decrypt(login.password_encrypted) == IMAP_PASSWORD

    removed_imap = await client.patch(f"/api/v1/mailboxes/{mailbox_id}", json={"imap": None})
    assert removed_imap.status_code == 200 and removed_imap.json()["imap"] is None, removed_imap.text
    assert await imap_login_of(nc, mailbox_id) is None
    assert (await client.delete(f"/api/v1/mailboxes/{mailbox_id}")).status_code == 204

    # Published by the stack's mailer under its own bus user: its grant allows the event.
    async def announced() -> list[Any] | None:
        events = await stream_events(stack.nats_url, str(workspace_id), "mailbox_changed")
        changes = [e for e in events if e.mailbox_id == mailbox_id]
        return changes if len(changes) == 3 else None

    changes = await eventually(announced)
    assert [(c.workspace_id, c.removed) for c in changes] == [
        (workspace_id, False),
        (workspace_id, False),
        (workspace_id, True),
    ]
