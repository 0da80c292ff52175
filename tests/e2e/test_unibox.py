"""The Unibox API through the gateway on the whole stack. A stored message is put in `inbox.messages` (with
the send it answers in `inbox.sent`) as the inbox's reader would have: reading IMAP is tested elsewhere
(test_inbox.py). Reclassifying then runs for real: the inbox's events reach the gateway's lead status and
the importer's suppression list over the bus."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from services.inbox.tables import messages, sent
from tests.e2e.api import create_campaign, start_import, wait_for_import, wait_for_leads, workspace_id_of
from tests.harness import ServiceStack
from tests.stack_fixtures import create_workspace_key

STEP_1 = f"<step-1.{uuid.uuid4().hex}@leadflow.example>"
RAW = (
    "From: Jana <jana@unibox.cz>\r\nTo: sales@leadflow.example\r\nSubject: Re: Hello\r\n"
    f"In-Reply-To: {STEP_1}\r\n\r\nI am away until Monday.\r\n\r\nOn Mon, you wrote:\r\n> Hello Jana\r\n"
)


async def stored_message(stack: ServiceStack, workspace_id: uuid.UUID, campaign_id: str, lead_id: str) -> str:
    """An out-of-office of the lead, stored as the inbox stores it (linked to its send, no event)."""
    message_id = uuid.uuid4()
    engine = create_async_engine(stack.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(sent).values(
                    message_id=STEP_1,
                    workspace_id=workspace_id,
                    campaign_id=uuid.UUID(campaign_id),
                    lead_id=uuid.UUID(lead_id),
                    step=1,
                    mailbox_id=uuid.uuid4(),
                    recipient="jana@unibox.cz",
                    subject="Hello",
                    sent_at=datetime.now(UTC) - timedelta(hours=1),
                )
            )
            await conn.execute(
                insert(messages).values(
                    id=message_id,
                    workspace_id=workspace_id,
                    mailbox_id=uuid.uuid4(),
                    message_key="<ooo@unibox.cz>",
                    uidvalidity=1,
                    uid=1,
                    raw=RAW.encode(),
                    message_id="<ooo@unibox.cz>",
                    from_address="jana@unibox.cz",
                    subject="Re: Hello",
                    text="I am away until Monday.",
                    kind="auto_reply",
                    rule="wording.absence",
                    classified_kind="auto_reply",
                    classified_rule="wording.absence",
                    in_reply_to=STEP_1,
                    lead_id=uuid.UUID(lead_id),
                    campaign_id=uuid.UUID(campaign_id),
                    step=1,
                    linked_by="message_id",
                )
            )
    finally:
        await engine.dispose()
    return str(message_id)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_the_unibox_lists_reads_marks_and_reclassifies(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    campaign_id = await create_campaign(client, "unibox")
    started = await start_import(client, campaign_id, b"email\njana@unibox.cz\n", {"email": "email"})
    await wait_for_import(client, started["id"])
    lead_id = (await wait_for_leads(client, campaign_id, 1))["items"][0]["id"]
    message_id = await stored_message(stack, await workspace_id_of(client), campaign_id, lead_id)

    listed = await client.get("/api/v1/inbox/messages", params={"campaign": campaign_id})
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert listed.json()["next_cursor"] is None
    assert (item["id"], item["kind"], item["snippet"], item["read"]) == (
        message_id,
        "auto_reply",
        "I am away until Monday.",
        False,
    )
    assert (item["lead_id"], item["campaign_id"], item["step"], item["status"]) == (
        lead_id,
        campaign_id,
        1,
        None,
    )
    assert (
        await client.get("/api/v1/inbox/messages", params={"kind": "reply", "campaign": campaign_id})
    ).json()["items"] == []

    detail = (await client.get(f"/api/v1/inbox/messages/{message_id}")).json()
    assert detail["lead"] == {"id": lead_id, "email": "jana@unibox.cz"}
    assert detail["campaign"] == {"id": campaign_id, "name": "unibox"}
    assert [(s["step"], s["subject"], s["message_id"]) for s in detail["thread"]] == [(1, "Hello", STEP_1)]
    assert detail["text"] == "I am away until Monday." and "> Hello Jana" in detail["full_text"]

    marked = await client.patch(f"/api/v1/inbox/messages/{message_id}", json={"read": True})
    assert marked.status_code == 200 and marked.json()["read"] is True
    unread = (
        await client.get("/api/v1/inbox/messages", params={"campaign": campaign_id, "unread": True})
    ).json()
    assert unread["items"] == []

    # Another workspace sees none of it.
    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        headers={"Authorization": f"Bearer {create_workspace_key(stack, 'other')}"},
    ) as other:
        assert (await other.get(f"/api/v1/inbox/messages/{message_id}")).status_code == 404
        assert (
            await other.patch(f"/api/v1/inbox/messages/{message_id}", json={"read": False})
        ).status_code == 404
        assert (await other.get("/api/v1/inbox/messages")).json()["items"] == []
    assert (await client.get(f"/api/v1/inbox/messages/{uuid.uuid4()}")).status_code == 404

    async def status_is(status: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return bool((await client.get(f"/api/v1/leads/{lead_id}")).json()["status"] == status)

        return check

    async def suppressed() -> bool:
        body: dict[str, Any] = (await client.get("/api/v1/suppressions", params={"q": "jana@unibox"})).json()
        return bool(body["items"])

    async def reclassify(kind: str) -> dict[str, Any]:
        response = await client.post(f"/api/v1/inbox/messages/{message_id}/reclassify", json={"kind": kind})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert (body["kind"], body["rule"], body["classified_kind"]) == (kind, "manual", "auto_reply")
        return body

    # An out-of-office that was a person's answer: the lead is Replied.
    made_reply = await reclassify("reply")
    assert made_reply["reclassified_by"] and made_reply["reclassified_at"]
    await eventually(await status_is("replied"), "the lead never became Replied")
    # Overturned again: it leaves Replied.
    await reclassify("auto_reply")
    await eventually(await status_is("contacted"), "the lead stayed Replied")
    # A hard bounce: Bounced and suppressed; overturned: it leaves Bounced and the address is unsuppressed.
    await reclassify("hard_bounce")
    await eventually(await status_is("bounced"), "the lead never became Bounced")
    await eventually(suppressed, "the address was never suppressed")
    await reclassify("delayed")
    await eventually(await status_is("contacted"), "the lead stayed Bounced")

    async def unsuppressed() -> bool:
        return not await suppressed()

    await eventually(unsuppressed, "the address stayed suppressed")
    invalid = await client.post(f"/api/v1/inbox/messages/{message_id}/reclassify", json={"kind": "spam"})
    assert invalid.status_code == 422
