"""Accent-insensitive substring search, and a lead's detail with its timeline."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.api import create_campaign, start_import, wait_for_import, wait_for_leads

CSV = (
    "email;Jméno;Příjmení;Firma\n"
    "jiri.capek@zdar.cz;Jiří;Čapek;Žďárské strojírny s.r.o.\n"
    "anna.novakova@firma.cz;Anna;Nováková;Firma a.s.\n"
    "petr@100procent.cz;Petr;Svoboda;100% Design\n"
)


async def test_search_and_timeline(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client, "search")
    started = await start_import(
        client,
        campaign_id,
        CSV.encode(),
        {"email": "email", "first_name": "Jméno", "last_name": "Příjmení", "company_name": "Firma"},
    )
    await wait_for_import(client, started["id"])
    await wait_for_leads(client, campaign_id, 3)

    async def search(q: str) -> list[str]:
        page = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"q": q})).json()
        assert page["total"] == len(page["items"])
        return sorted(i["email"] for i in page["items"])

    assert await search("CAPEK") == ["jiri.capek@zdar.cz"]  # no accents typed, none needed
    assert await search("žďár") == ["jiri.capek@zdar.cz"]  # accents typed: matched all the same
    assert await search("nova") == ["anna.novakova@firma.cz"]  # a substring inside a word
    assert await search("a.s") == ["anna.novakova@firma.cz"]
    assert await search("100%") == ["petr@100procent.cz"]  # `%` is a character, not a wildcard
    assert await search("%") == ["petr@100procent.cz"]
    assert await search("cz") == ["anna.novakova@firma.cz", "jiri.capek@zdar.cz", "petr@100procent.cz"]
    assert await search("nobody") == []

    lead_id = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"q": "capek"})).json()[
        "items"
    ][0]["id"]
    detail: dict[str, object] = {}
    for _ in range(50):
        detail = (await client.get(f"/api/v1/leads/{lead_id}")).json()
        if detail["timeline"]:
            break
        await asyncio.sleep(0.1)
    assert detail["first_name"] == "Jiří" and detail["company_name"] == "Žďárské strojírny s.r.o."
    timeline = detail["timeline"]
    assert isinstance(timeline, list) and len(timeline) == 1
    assert timeline[0]["type"] == "lead_imported" and timeline[0]["source"] == "importer"
    assert timeline[0]["summary"] == {"import_id": started["id"], "row": 1}
