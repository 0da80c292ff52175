"""Bulk actions over a campaign's leads: `POST /campaigns/{id}/leads/bulk` starts a job, `GET /jobs/{id}`.

Each test imports its own campaign through the API, starts a bulk action, waits for the job and then for
the (eventually consistent) list to show its effect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.domain import JobState
from services.gateway.tables import jobs, lead_view
from tests.e2e.api import create_campaign, start_import, wait_for_import, wait_for_leads
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack

CSV = (
    b"email,first_name,company_name\n"
    b"ana@alpha.example,Ana,Alpha\n"
    b"bob@alpha.example,Bob,Alpha\n"
    b"cyril@beta.example,Cyril,Beta\n"
    b"dana@beta.example,Dana,Beta\n"
    b"emil@gamma.example,Emil,Gamma\n"
)
MAPPING = {"email": "email", "first_name": "first_name", "company_name": "company_name"}


async def campaign_with_leads(client: httpx.AsyncClient, name: str) -> tuple[str, dict[str, str]]:
    """A campaign with the CSV's five leads, and their ids by email."""
    campaign_id = await create_campaign(client, name)
    started = await start_import(client, campaign_id, CSV, MAPPING)
    done = await wait_for_import(client, started["id"])
    assert done["state"] == "completed", done
    page = await wait_for_leads(client, campaign_id, 5)
    return campaign_id, {item["email"]: item["id"] for item in page["items"]}


async def bulk(client: httpx.AsyncClient, campaign_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/api/v1/campaigns/{campaign_id}/leads/bulk", json=body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert {"id", "state", "percent", "done", "total"} <= set(job)
    return job


async def wait_for_job(client: httpx.AsyncClient, job_id: str, within: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, f"job still running: {job}"
        await asyncio.sleep(0.1)


async def wait_for_list(
    client: httpx.AsyncClient,
    campaign_id: str,
    done: Callable[[dict[str, str]], bool],
    within: float = 30,
    **params: Any,
) -> dict[str, str]:
    """The campaign's leads as email -> status, once `done` holds (the projection catches up)."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get(
            f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 1000, **params}
        )
        assert response.status_code == 200, response.text
        leads = {item["email"]: item["status"] for item in response.json()["items"]}
        if done(leads):
            return leads
        assert time.monotonic() < deadline, f"the list never caught up: {leads}"
        await asyncio.sleep(0.1)


async def timeline(client: httpx.AsyncClient, lead_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/leads/{lead_id}")
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["timeline"]
    return entries


def who(api_key: str) -> str:
    """`changed_by` of a change made with this key: its name (`default` from the CLI) and its prefix."""
    return f"default ({api_key[:10]}…)"


async def test_set_status_by_ids(client: httpx.AsyncClient, api_key: str) -> None:
    campaign_id, ids = await campaign_with_leads(client, "bulk by ids")
    foreign = str(uuid4())
    job = await bulk(
        client,
        campaign_id,
        {
            "action": "set_status",
            "status": "replied",
            "reason": "answered by phone",
            "ids": [ids["ana@alpha.example"], ids["cyril@beta.example"], foreign],
        },
    )
    assert job["total"] == 2 and job["ignored_ids"] == [foreign]
    assert job["action"] == "set_status"

    finished = await wait_for_job(client, job["id"])
    assert finished == {**finished, "state": "completed", "percent": 100.0, "done": 2, "total": 2}
    assert finished["error"] is None

    leads = await wait_for_list(client, campaign_id, lambda s: s["ana@alpha.example"] == "replied")
    assert leads == {
        "ana@alpha.example": "replied",
        "bob@alpha.example": "pending",
        "cyril@beta.example": "replied",
        "dana@beta.example": "pending",
        "emil@gamma.example": "pending",
    }
    changes = [
        e for e in await timeline(client, ids["cyril@beta.example"]) if e["type"] == "lead_status_changed"
    ]
    assert len(changes) == 1
    assert changes[0]["source"] == "gateway"
    assert changes[0]["summary"]["changed_by"] == who(api_key)
    assert changes[0]["summary"]["status"] == "replied"
    assert changes[0]["summary"]["reason"] == "answered by phone"
    assert changes[0]["summary"]["job_id"] == job["id"]


async def test_set_status_by_filter(client: httpx.AsyncClient, api_key: str) -> None:
    campaign_id, ids = await campaign_with_leads(client, "bulk by filter")

    by_q = await bulk(
        client, campaign_id, {"action": "set_status", "status": "bounced", "filter": {"q": "BETA"}}
    )
    assert by_q["total"] == 2
    assert (await wait_for_job(client, by_q["id"]))["percent"] == 100.0
    await wait_for_list(
        client,
        campaign_id,
        lambda s: s["cyril@beta.example"] == s["dana@beta.example"] == "bounced",
    )

    # By status: only the bounced two move on; the rest stay pending.
    by_status = await bulk(
        client,
        campaign_id,
        {"action": "set_status", "status": "unsubscribed", "filter": {"status": ["bounced"]}},
    )
    assert by_status["total"] == 2
    finished = await wait_for_job(client, by_status["id"])
    assert (finished["state"], finished["done"], finished["percent"]) == ("completed", 2, 100.0)
    leads = await wait_for_list(client, campaign_id, lambda s: s["dana@beta.example"] == "unsubscribed")
    assert leads == {
        "ana@alpha.example": "pending",
        "bob@alpha.example": "pending",
        "cyril@beta.example": "unsubscribed",
        "dana@beta.example": "unsubscribed",
        "emil@gamma.example": "pending",
    }
    changes = [
        e for e in await timeline(client, ids["dana@beta.example"]) if e["type"] == "lead_status_changed"
    ]
    assert [c["summary"]["status"] for c in changes] == ["bounced", "unsubscribed"]
    assert {c["summary"]["changed_by"] for c in changes} == {who(api_key)}


async def test_a_filter_matching_nothing_completes_at_once(client: httpx.AsyncClient) -> None:
    campaign_id, _ = await campaign_with_leads(client, "bulk over nothing")
    job = await bulk(
        client, campaign_id, {"action": "set_status", "status": "replied", "filter": {"q": "nobody-here"}}
    )
    assert (job["state"], job["total"], job["done"], job["percent"]) == ("completed", 0, 0, 100.0)
    again = (await client.get(f"/api/v1/jobs/{job['id']}")).json()
    assert (again["state"], again["total"], again["percent"]) == ("completed", 0, 100.0)


async def test_remove_then_import_again(client: httpx.AsyncClient) -> None:
    campaign_id, ids = await campaign_with_leads(client, "bulk remove")
    job = await bulk(client, campaign_id, {"action": "remove", "filter": {"q": "alpha"}})
    assert job["total"] == 2 and job["action"] == "remove"
    finished = await wait_for_job(client, job["id"])
    assert (finished["state"], finished["percent"]) == ("completed", 100.0)

    leads = await wait_for_list(client, campaign_id, lambda s: "ana@alpha.example" not in s)
    assert sorted(leads) == ["cyril@beta.example", "dana@beta.example", "emil@gamma.example"]
    assert (await client.get(f"/api/v1/leads/{ids['ana@alpha.example']}")).status_code == 404
    # The campaign's lead count (from the trigger-kept counts) follows the removal.
    assert (await client.get(f"/api/v1/campaigns/{campaign_id}")).json()["leads"] == 3
    listed = {c["id"]: c["leads"] for c in (await client.get("/api/v1/campaigns")).json()}
    assert listed[campaign_id] == 3

    # The importer forgets them too (asynchronously), so the same file brings exactly them back.
    deadline = time.monotonic() + 30
    while True:
        started = await start_import(client, campaign_id, CSV, MAPPING)
        counts = (await wait_for_import(client, started["id"]))["counts"]
        if counts.get("imported") == 2:
            break
        assert time.monotonic() < deadline, f"removed leads still in the campaign: {counts}"
        await asyncio.sleep(0.2)
    assert counts.get("already_in_campaign") == 3
    leads = await wait_for_list(client, campaign_id, lambda s: len(s) == 5)
    readded = await wait_for_leads(client, campaign_id, 2, q="alpha")
    assert {item["id"] for item in readded["items"]}.isdisjoint(ids.values())  # new leads, new ids


async def test_body_is_validated(client: httpx.AsyncClient) -> None:
    campaign_id, ids = await campaign_with_leads(client, "bulk validation")
    url = f"/api/v1/campaigns/{campaign_id}/leads/bulk"
    lead = ids["ana@alpha.example"]
    for body in (
        {"action": "remove", "ids": [lead], "filter": {}},  # both
        {"action": "remove"},  # neither
        {"action": "archive", "ids": [lead]},  # unknown action
        {"action": "set_status", "ids": [lead]},  # no status
        {"action": "set_status", "status": "archived", "ids": [lead]},  # no such status
        {"action": "remove", "filter": {"stauts": ["pending"]}},  # a typo never widens to everything
        {"action": "remove", "ids": []},
    ):
        response = await client.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
    missing = await client.post(
        f"/api/v1/campaigns/{uuid4()}/leads/bulk", json={"action": "remove", "filter": {}}
    )
    assert missing.status_code == 404, missing.text
    leads = await wait_for_list(client, campaign_id, lambda s: len(s) == 5)
    assert set(leads.values()) == {"pending"}  # none of the refused requests did anything


async def test_another_workspace_sees_no_job(client: httpx.AsyncClient, stack: ServiceStack) -> None:
    campaign_id, ids = await campaign_with_leads(client, "bulk scoping")
    job = await bulk(
        client, campaign_id, {"action": "set_status", "status": "replied", "ids": [ids["bob@alpha.example"]]}
    )
    other_key = create_workspace_key(stack, "Bulk someone else")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        assert (await other.get(f"/api/v1/jobs/{job['id']}")).status_code == 404
        foreign = await other.post(
            f"/api/v1/campaigns/{campaign_id}/leads/bulk", json={"action": "remove", "filter": {}}
        )
        assert foreign.status_code == 404, foreign.text
    assert (await client.get(f"/api/v1/jobs/{uuid4()}")).status_code == 404
    assert (await wait_for_job(client, job["id"]))["state"] == "completed"


async def test_a_job_left_running_resumes_from_its_checkpoint(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    """What a gateway that crashed after committing its first batch leaves behind: a running job whose
    checkpoint is past the first lead. The runner picks it up and sends only the rest."""
    campaign_id, ids = await campaign_with_leads(client, "bulk resume")
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(lead_view.c.id, lead_view.c.seq, lead_view.c.workspace_id)
                    .where(lead_view.c.campaign_id == campaign_id)
                    .order_by(lead_view.c.seq)
                )
            ).all()
            job_id = uuid4()
            await conn.execute(
                jobs.insert().values(
                    id=job_id,
                    workspace_id=rows[0].workspace_id,
                    campaign_id=campaign_id,
                    kind="bulk_leads",
                    state=JobState.RUNNING,
                    total=5,
                    done=1,
                    params={
                        "action": "set_status",
                        "status": "completed",
                        "reason": None,
                        "ids": None,
                        "filter": {},
                        "ignored_ids": [],
                        "max_seq": rows[-1].seq,
                        "cursor": rows[0].seq,
                        "batches": 1,
                        "sent": 1,
                    },
                    created_by="crashed (lf_xxxxxxx…)",
                )
            )
    finally:
        await engine.dispose()
    finished = await wait_for_job(client, str(job_id))
    assert (finished["state"], finished["done"], finished["percent"]) == ("completed", 5, 100.0)
    first = str(rows[0].id)
    leads = await wait_for_list(client, campaign_id, lambda s: list(s.values()).count("completed") == 4)
    by_id = {lead_id: leads[email] for email, lead_id in ids.items()}
    assert by_id[first] == "pending"  # behind the checkpoint: its batch was already sent before the crash
    assert not [e for e in await timeline(client, first) if e["type"] == "lead_status_changed"]
    later = [e for e in await timeline(client, str(rows[-1].id)) if e["type"] == "lead_status_changed"]
    assert [e["summary"]["changed_by"] for e in later] == ["crashed (lf_xxxxxxx…)"]
