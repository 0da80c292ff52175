"""A campaign's import history over HTTP: newest first, the import's own shape, keyset pages, isolation."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.api import create_campaign, refusal, start_import, wait_for_import
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack


async def test_a_campaigns_imports_are_listed_newest_first_as_get_import_shows_them(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    campaign_id = await create_campaign(client, "history")
    other_campaign = await create_campaign(client, "history elsewhere")
    assert (await client.get(f"/api/v1/campaigns/{campaign_id}/imports")).json() == {
        "items": [],
        "next_cursor": None,
    }

    first = await start_import(
        client, campaign_id, b"email\na@firma.cz\nnot-an-address\n", {"email": "email"}, "first.csv"
    )
    await wait_for_import(client, first["id"])
    elsewhere = await start_import(client, other_campaign, b"email\nz@firma.cz\n", {"email": "email"})
    await wait_for_import(client, elsewhere["id"])
    stored = await client.post("/api/v1/pipeline/leads", json=[{"email": "p@pipeline.cz", "city": "Brno"}])
    assert stored.status_code == 200, stored.text
    from_pipeline = await client.post(
        f"/api/v1/campaigns/{campaign_id}/imports/pipeline", json={"filter": {"city": "Brno"}}
    )
    assert from_pipeline.status_code == 202, from_pipeline.text
    await wait_for_import(client, from_pipeline.json()["id"])
    last = await start_import(client, campaign_id, b"email\nb@firma.cz\n", {"email": "email"}, "last.csv")
    await wait_for_import(client, last["id"])

    listed = await client.get(f"/api/v1/campaigns/{campaign_id}/imports")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["id"] for i in items] == [last["id"], from_pipeline.json()["id"], first["id"]]
    assert listed.json()["next_cursor"] is None
    for item in items:
        assert item == (await client.get(f"/api/v1/imports/{item['id']}")).json()
        assert item["report_url"] == f"/api/v1/imports/{item['id']}/report.csv"
    assert [(i["source"], i["filename"]) for i in items] == [
        ("csv", "last.csv"),
        ("pipeline", "Pipeline: Brno"),
        ("csv", "first.csv"),
    ]
    assert items[2]["counts"]["invalid_format"] == 1 and items[2]["total_rows"] == 2

    pages: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"/api/v1/campaigns/{campaign_id}/imports", params=params)).json()
        pages += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [i["id"] for i in items]


async def test_import_history_refuses_bad_cursors_and_other_workspaces(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    campaign_id = await create_campaign(client, "history guarded")
    for cursor in ("nonsense", "WzEsMl0"):  # the second is base64 of [1,2]
        response = await client.get(f"/api/v1/campaigns/{campaign_id}/imports", params={"cursor": cursor})
        assert "cursor" in refusal(response)
    assert (
        await client.get(f"/api/v1/campaigns/{campaign_id}/imports", params={"limit": 0})
    ).status_code == 422
    assert (await client.get(f"/api/v1/campaigns/{uuid.uuid4()}/imports")).status_code == 404
    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        headers={"Authorization": f"Bearer {create_workspace_key(stack, 'History neighbour')}"},
    ) as other:
        assert (await other.get(f"/api/v1/campaigns/{campaign_id}/imports")).status_code == 404
