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


PEOPLE = (
    "email;Jméno;Příjmení;Firma;Město\n"
    "katerina@firma.cz;Kateřina;Zemanová;Zeman a.s.;Brno\n"
    "katka@firma.cz;Kateřina;Horáková;Hora s.r.o.;Praha\n"
    "petr@brno-stavby.cz;Petr;Černý;Černý stavby;Olomouc\n"
    "cyril@firma.cz;Cyril;Cibulka;Cibulka a syn;České Budějovice\n"
    "chalupa@firma.cz;Ota;Chalupa;Chalupa design;Plzeň\n"
    "adam@firma.cz;;;;Brno\n"
)


async def people(client: httpx.AsyncClient, name: str) -> str:
    campaign_id = await create_campaign(client, name)
    mapping = {
        "email": "email",
        "first_name": "Jméno",
        "last_name": "Příjmení",
        "company_name": "Firma",
        "city": "Město",
    }
    started = await start_import(client, campaign_id, PEOPLE.encode(), mapping)
    await wait_for_import(client, started["id"])
    await wait_for_leads(client, campaign_id, 6)
    return campaign_id


async def test_every_word_of_a_search_must_match_some_field(client: httpx.AsyncClient) -> None:
    campaign_id = await people(client, "words")

    async def search(q: str) -> list[str]:
        page = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"q": q})).json()
        assert page["total"] == len(page["items"])
        return sorted(i["email"] for i in page["items"])

    assert await search("katerina brno") == ["katerina@firma.cz"]  # a name and a city
    assert await search("BRNO  KATEŘINA") == ["katerina@firma.cz"]  # any order, case, accents
    assert await search("brno") == ["adam@firma.cz", "katerina@firma.cz", "petr@brno-stavby.cz"]
    assert await search("ceske budejovice") == ["cyril@firma.cz"]  # the city is searched by itself too
    assert await search("brno cerny") == ["petr@brno-stavby.cz"]  # the email's domain and a surname
    assert await search("katerina olomouc") == []  # every word must match
    assert await search("plzen design ota") == ["chalupa@firma.cz"]
    # The export and bulk actions take the same filter.
    export = await client.get(
        f"/api/v1/campaigns/{campaign_id}/leads/export.csv", params={"q": "katerina brno"}
    )
    assert export.status_code == 200 and export.text.count("@firma.cz") == 1


async def test_company_and_name_sort_in_czech_order(client: httpx.AsyncClient) -> None:
    campaign_id = await people(client, "czech order")

    async def order(sort: str) -> list[str]:
        listed: list[str] = []
        cursor = None
        while True:  # two at a time, so the keyset cursor crosses č, ch and the leads without a value
            params: dict[str, str | int] = {"sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params=params)).json()
            listed += [i["email"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return listed

    # Cibulka < Černý (č after c) < Hora < Chalupa (ch after h) < Zeman; no company last.
    by_company = ["cyril", "petr", "katka", "chalupa", "katerina", "adam"]
    assert await order("company") == [
        f"{n}@firma.cz" if n != "petr" else "petr@brno-stavby.cz" for n in by_company
    ]
    descending = await order("-company")
    assert (
        descending[:-1] == list(reversed((await order("company"))[:-1])) and descending[-1] == "adam@firma.cz"
    )
    # By surname, then first name: Cibulka, Černý, Horáková, Chalupa, Zemanová; no name last.
    assert await order("name") == [
        "cyril@firma.cz",
        "petr@brno-stavby.cz",
        "katka@firma.cz",
        "chalupa@firma.cz",
        "katerina@firma.cz",
        "adam@firma.cz",
    ]
