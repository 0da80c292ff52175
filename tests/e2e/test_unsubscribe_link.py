"""The unsubscribe link end to end, on the whole stack: a link scanner's GET changes nothing, the one-click
POST (RFC 8058) unsubscribes and suppresses the address once however often it is sent, and a forged,
altered or unknown token answers 4xx and changes nothing. No API key, no session: the token is the
authority."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import httpx

from services.runtime.secrets import Secrets, new_secret_key
from services.runtime.unsubscribe_tokens import UnsubscribeTokens
from tests.e2e.api import (
    create_campaign,
    start_import,
    stream_events,
    wait_for_import,
    wait_for_leads,
    workspace_id_of,
)
from tests.harness import ServiceStack, eventually

# A mail provider's one-click POST (RFC 8058): from its own origin, with whatever cookie the browser holds;
# the CSRF guard of cookie-authenticated API calls does not apply to the link.
ONE_CLICK = {
    "content": b"List-Unsubscribe=One-Click",
    "headers": {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": "https://mail.provider.example",
        "Cookie": "leadflow_session=someone-elses",
    },
}


async def _leads(
    client: httpx.AsyncClient, name: str, domain: str
) -> tuple[UUID, str, dict[str, dict[str, Any]]]:
    """Jana and Petr of `domain` (the workspace is the session's: an address unsubscribed by one test is
    suppressed for the next)."""
    campaign_id = await create_campaign(client, name)
    csv = f"email;Jméno\njana@{domain};Jana\npetr@{domain};Petr\n"
    started = await start_import(client, campaign_id, csv.encode(), {"email": "email", "first_name": "Jméno"})
    await wait_for_import(client, started["id"])
    page = await wait_for_leads(client, campaign_id, 2)
    return await workspace_id_of(client), campaign_id, {lead["email"]: lead for lead in page["items"]}


async def _status(client: httpx.AsyncClient, lead: dict[str, Any]) -> str:
    response = await client.get(f"/api/v1/leads/{lead['id']}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def _unsubscribed_events(stack: ServiceStack, workspace_id: UUID, *emails: str) -> list[Any]:
    """The workspace's LeadUnsubscribed of these addresses (the session's other tests unsubscribe theirs)."""
    events = await stream_events(stack.nats_url, str(workspace_id), "lead_unsubscribed")
    return [event for event in events if event.email in emails]


async def test_a_scanners_get_changes_nothing_and_the_one_click_post_unsubscribes_once(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    workspace_id, _, leads = await _leads(client, "unsubscribe link", "odhlasit.cz")
    jana, petr = leads["jana@odhlasit.cz"], leads["petr@odhlasit.cz"]
    tokens = UnsubscribeTokens.from_secrets(Secrets.from_value(stack.secret_key))
    jana_token = tokens.make_token(workspace_id, UUID(jana["id"]), jana["email"])
    petr_token = tokens.make_token(workspace_id, UUID(petr["id"]), petr["email"])
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anyone:
        # A link scanner (or a preview) fetches Petr's link: a page with one button, and nothing else.
        scanned = await anyone.get(f"/u/{petr_token}")
        assert scanned.status_code == 200, scanned.text
        assert scanned.headers["content-type"].startswith("text/html")
        assert '<meta name="robots" content="noindex, nofollow">' in scanned.text
        assert "noindex" in scanned.headers["x-robots-tag"]
        assert scanned.text.count("<button") == 1 and f'action="/u/{petr_token}"' in scanned.text
        assert (
            "Odhlásit" in scanned.text
            and "Unsubscribe" in scanned.text
            and "petr@odhlasit.cz" in scanned.text
        )
        # Jana's mail client posts the one-click body, twice (a retry), without a cookie or an Origin.
        for _ in range(2):
            done = await anyone.post(f"/u/{jana_token}", **ONE_CLICK)  # type: ignore[arg-type]
            assert done.status_code == 200, done.text
            assert "Odhlášení proběhlo" in done.text and "You are unsubscribed" in done.text
        # The page's own button: a plain form post.
        assert (await anyone.post(f"/u/{jana_token}", data={})).status_code == 200

    async def jana_unsubscribed() -> bool:
        return await _status(client, jana) == "unsubscribed"

    await eventually(jana_unsubscribed)

    async def suppressed() -> list[str]:
        listed = (await client.get("/api/v1/suppressions", params={"q": "odhlasit.cz"})).json()["items"]
        return [item["email"] for item in listed]

    assert await eventually(suppressed) == ["jana@odhlasit.cz"]
    events = await _unsubscribed_events(stack, workspace_id, "jana@odhlasit.cz", "petr@odhlasit.cz")
    assert [(e.lead_id, e.email, e.source) for e in events] == [
        (UUID(jana["id"]), "jana@odhlasit.cz", "link")
    ]
    # Petr's GET came before Jana's POST: had it emitted anything, it would be projected by now.
    assert await _status(client, petr) == "pending"
    detail = (await client.get(f"/api/v1/leads/{jana['id']}")).json()
    assert (
        detail["timeline"][-1]["type"] == "lead_unsubscribed"
        and detail["timeline"][-1]["source"] == "gateway"
    )


async def test_forged_altered_and_unknown_tokens_answer_4xx_and_change_nothing(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    workspace_id, _, leads = await _leads(client, "forged links", "padelek.cz")
    jana = leads["jana@padelek.cz"]
    lead_id = UUID(jana["id"])
    tokens = UnsubscribeTokens.from_secrets(Secrets.from_value(stack.secret_key))
    genuine = tokens.make_token(workspace_id, lead_id, jana["email"])
    last = genuine[-1]
    altered = genuine[:-2] + ("A" if genuine[-2] != "A" else "B") + last
    forged = {
        "altered MAC": (altered, 404),
        "another secret": (
            UnsubscribeTokens.from_secrets(Secrets.from_value(new_secret_key())).make_token(
                workspace_id, lead_id, jana["email"]
            ),
            404,
        ),
        "another address": (tokens.make_token(workspace_id, lead_id, "someone@else.cz"), 404),
        "unknown lead": (tokens.make_token(workspace_id, uuid4(), jana["email"]), 404),
        "another workspace": (tokens.make_token(uuid4(), lead_id, jana["email"]), 404),
        "truncated": (genuine[:-1], 400),
        "not base64url": (genuine[:-1] + "*", 400),
        "garbage": ("x" * 500, 400),
    }
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anyone:
        for name, (token, status) in forged.items():
            for method in ("GET", "POST"):
                answer = await anyone.request(method, f"/u/{token}", **ONE_CLICK)  # type: ignore[arg-type]
                assert answer.status_code == status, (name, method, answer.text)
                assert answer.headers["content-type"].startswith("text/html") and "<form" not in answer.text
    await asyncio.sleep(1)
    assert [
        e for e in await _unsubscribed_events(stack, workspace_id, jana["email"]) if e.lead_id == lead_id
    ] == []
    assert await _status(client, jana) == "pending"


async def test_a_lead_removed_from_its_campaign_can_still_unsubscribe_with_a_link_sent_before(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    workspace_id, campaign_id, leads = await _leads(client, "removed, then unsubscribed", "odebran.cz")
    jana = leads["jana@odebran.cz"]
    token = UnsubscribeTokens.from_secrets(Secrets.from_value(stack.secret_key)).make_token(
        workspace_id, UUID(jana["id"]), jana["email"]
    )
    job = await client.post(
        f"/api/v1/campaigns/{campaign_id}/leads/bulk", json={"action": "remove", "ids": [jana["id"]]}
    )
    assert job.status_code == 202, job.text

    async def removed() -> bool:
        return (await client.get(f"/api/v1/leads/{jana['id']}")).status_code == 404

    await eventually(removed)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anyone:
        assert (await anyone.get(f"/u/{token}")).status_code == 200
        assert (await anyone.post(f"/u/{token}", **ONE_CLICK)).status_code == 200  # type: ignore[arg-type]

    async def suppressed() -> list[str]:
        listed = (await client.get("/api/v1/suppressions", params={"q": "odebran.cz"})).json()["items"]
        return [item["email"] for item in listed]

    assert await eventually(suppressed) == ["jana@odebran.cz"]
    events = await _unsubscribed_events(stack, workspace_id, "jana@odebran.cz")
    assert [e.source for e in events if e.lead_id == UUID(jana["id"])] == ["link"]
