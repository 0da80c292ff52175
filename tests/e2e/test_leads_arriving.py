"""A finished import's leads reach the list promptly, and until they all have, the list and the campaign
say how many are still on their way (`arriving`), so a table never claims "No leads yet" meanwhile."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from nats.aio.client import Client

from contracts import ImportState, LeadImported, subjects
from contracts.events import ImportCompleted, ImportedLead
from services.gateway.projection.consumer import PROJECTION_DURABLE
from tests.e2e.api import create_campaign, start_import, wait_for_import, wait_for_leads, workspace_id_of
from tests.e2e.test_bulk_jobs import bulk, wait_for_job

CSV = b"email,company\n" + b"".join(f"lead{i}@arriving.example,Firma {i}\n".encode() for i in range(40))


async def campaign_state(client: httpx.AsyncClient, campaign_id: str) -> tuple[int, int, int, int]:
    """(leads listed, arriving) from the leads list, then from the campaign."""
    page = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads")).json()
    campaign = (await client.get(f"/api/v1/campaigns/{campaign_id}")).json()
    return page["total"], page["arriving"], campaign["leads"], campaign["arriving"]


async def wait_for_state(
    client: httpx.AsyncClient, campaign_id: str, expected: tuple[int, int, int, int], within: float = 15
) -> None:
    deadline = time.monotonic() + within
    while (state := await campaign_state(client, campaign_id)) != expected:
        assert time.monotonic() < deadline, f"{state} is not {expected}"
        await asyncio.sleep(0.1)


async def publish(nc: Client, event: LeadImported | ImportCompleted) -> None:
    await nc.jetstream().publish(
        event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
    )


async def test_an_import_is_listed_while_the_consumer_of_every_event_is_stalled(
    client: httpx.AsyncClient, nc: Client
) -> None:
    campaign_id = await create_campaign(client, "Listed past a backlog")
    js = nc.jetstream()
    # Paused, the consumer of every event stands for one with a long backlog of verdicts to work through.
    until = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await js.pause_consumer(subjects.STREAM, PROJECTION_DURABLE, until)
    try:
        started = await start_import(client, campaign_id, CSV, {"email": "email", "company_name": "company"})
        done = await wait_for_import(client, started["id"])
        assert done["counts"]["imported"] == 40
        finished = time.monotonic()
        page = await wait_for_leads(client, campaign_id, 40, within=10)
        assert time.monotonic() - finished < 10
        assert (page["total"], page["arriving"]) == (40, 0)
        info = await js.consumer_info(subjects.STREAM, PROJECTION_DURABLE)
        assert info.num_pending > 0  # it had not reached the import: the imports consumer listed it
    finally:
        await js.resume_consumer(subjects.STREAM, PROJECTION_DURABLE)
    # Once the other consumer catches up, nothing is listed twice.
    await asyncio.sleep(1)
    assert await campaign_state(client, campaign_id) == (40, 0, 40, 0)


async def test_arriving_counts_a_finished_imports_leads_until_they_are_listed(
    client: httpx.AsyncClient, nc: Client
) -> None:
    workspace_id = await workspace_id_of(client)
    campaign_id = await create_campaign(client, "Leads on their way")
    import_id = uuid4()

    def chunk(number: int, leads: list[ImportedLead]) -> LeadImported:
        return LeadImported(
            workspace_id=workspace_id,
            campaign_id=UUID(campaign_id),
            import_id=import_id,
            chunk=number,
            leads=leads,
        )

    leads = [ImportedLead(lead_id=uuid4(), email=f"on-the-way{i}@firma.cz", row=i + 1) for i in range(5)]
    assert await campaign_state(client, campaign_id) == (0, 0, 0, 0)
    # The import finished (the importer counted 5) before its chunks reached the list.
    await publish(
        nc,
        ImportCompleted(
            workspace_id=workspace_id,
            campaign_id=UUID(campaign_id),
            import_id=import_id,
            state=ImportState.COMPLETED,
            counts={"imported": 5, "duplicate_in_file": 2},
        ),
    )
    await wait_for_state(client, campaign_id, (0, 5, 0, 5))
    await publish(nc, chunk(0, leads[:3]))
    await wait_for_state(client, campaign_id, (3, 2, 3, 2))
    listed = {c["id"]: c["arriving"] for c in (await client.get("/api/v1/campaigns")).json()}
    assert listed[campaign_id] == 2
    await publish(nc, chunk(1, leads[3:]))
    await wait_for_state(client, campaign_id, (5, 0, 5, 0))

    # Removing leads does not make the rest look on their way.
    job = await bulk(
        client, campaign_id, {"action": "remove", "ids": [str(lead.lead_id) for lead in leads[:2]]}
    )
    finished: dict[str, Any] = await wait_for_job(client, job["id"])
    assert finished["state"] == "completed"
    await wait_for_state(client, campaign_id, (3, 0, 3, 0))
