"""The company directory and the pipeline, end to end: CLI load → search over HTTP → import into a campaign."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from services.runtime.db import psycopg_conninfo
from tests.e2e.api import create_campaign, refusal, wait_for_import, wait_for_leads
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack

SAMPLE_ROWS = 3000


def query(stack: ServiceStack, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(psycopg_conninfo(stack.database_url)) as conn:
        return conn.execute(sql, params).fetchall()


def fold(text: str | None) -> str:
    """What the directory's free-text search calls equal, written independently of its SQL."""
    decomposed = unicodedata.normalize("NFKD", (text or "").lower().replace("ł", "l").replace("ß", "ss"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@pytest.fixture(scope="module")
def directory(stack: ServiceStack) -> None:
    """A sample loaded through the real CLI, as an operator would."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "directory",
            "sample",
            "--rows",
            str(SAMPLE_ROWS),
            "--replace",
        ],
        env={**os.environ, "LEADFLOW_DATABASE_URL": stack.database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"{SAMPLE_ROWS:,} companies" in result.stdout
    assert query(stack, "SELECT count(*) FROM importer.directory_companies") == [(SAMPLE_ROWS,)]


async def all_pages(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await client.get(
            path, params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_directory_search_counts_match_the_database(
    client: httpx.AsyncClient, stack: ServiceStack, directory: None
) -> None:
    facets = (await client.get("/api/v1/directory/facets")).json()
    assert facets["countries"] == ["AT", "CZ", "DE", "HU", "PL", "SK"]
    industries = query(stack, "SELECT DISTINCT industry FROM importer.directory_companies")
    assert sorted(facets["industries"]) == sorted(r[0] for r in industries)
    czech = (await client.get("/api/v1/directory/facets", params={"country": "CZ"})).json()["cities"]
    assert "Praha" in czech and "Brno" in czech and "Wien" not in czech
    cities = query(stack, "SELECT DISTINCT city FROM importer.directory_companies WHERE country = 'CZ'")
    assert sorted(czech) == sorted(r[0] for r in cities) and len(czech) == len(cities)
    # In Czech alphabetical order, as a person looks for them: Č after C, before D (not after Z).
    assert czech.index("Brno") < czech.index("České Budějovice") < czech.index("Hradec Králové")

    # A band overlaps the requested range: it starts at or below its top and ends at or above its bottom
    # (an open-ended band, e.g. 1000+, never ends).
    params: dict[str, Any] = {
        "country": ["CZ", "SK"],
        "size_min": 10,
        "size_max": 249,
        "industry": "Construction",
    }
    expected = query(
        stack,
        "SELECT id FROM importer.directory_companies WHERE country IN ('CZ', 'SK') AND industry = 'Construction' "
        "AND size_min <= 249 AND (size_max IS NULL OR size_max >= 10) ORDER BY id",
    )
    first = (await client.get("/api/v1/directory/companies", params={**params, "limit": 5})).json()
    assert first["total"] == len(expected) > 5
    assert [c["id"] for c in first["items"]] == [r[0] for r in expected[:5]]
    every = await all_pages(client, "/api/v1/directory/companies", params)
    assert [c["id"] for c in every] == [r[0] for r in expected]
    assert all(c["country"] in ("CZ", "SK") and c["industry"] == "Construction" for c in every)

    big = await client.get("/api/v1/directory/companies", params={"size_min": 1000})
    assert (
        big.json()["total"]
        == query(stack, "SELECT count(*) FROM importer.directory_companies WHERE size_max IS NULL")[0][0]
    )

    # Free text ignores case and accents: "DVORAK" finds Dvořák in names, websites and addresses.
    rows = query(stack, "SELECT company_name, website, email FROM importer.directory_companies")
    wanted = sum(any("dvorak" in fold(value) for value in row) for row in rows)
    found = (await client.get("/api/v1/directory/companies", params={"q": "DVORAK"})).json()
    assert found["total"] == wanted > 0
    assert any("Dvořák" in c["company_name"] for c in found["items"])
    lodz = (await client.get("/api/v1/directory/companies", params={"q": "lodz"})).json()
    assert lodz["total"] == sum(any("lodz" in fold(value) for value in row) for row in rows) > 0

    upside_down = await client.get("/api/v1/directory/companies", params={"size_min": 50, "size_max": 10})
    assert "size_min (50) is greater than size_max (10)" in refusal(upside_down)
    assert (
        await client.get("/api/v1/directory/companies", params={"cursor": "nonsense!"})
    ).status_code == 422
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        assert (await anonymous.get("/api/v1/directory/companies")).status_code == 401


async def test_add_every_directory_match_to_a_campaign(
    client: httpx.AsyncClient, stack: ServiceStack, directory: None
) -> None:
    criteria: dict[str, Any] = {"country": "SK", "size_min": 10}
    total = (await client.get("/api/v1/directory/companies", params=criteria)).json()["total"]
    with_email, without_email = query(
        stack,
        "SELECT count(email), count(*) - count(email) FROM importer.directory_companies "
        "WHERE country = 'SK' AND (size_max IS NULL OR size_max >= 10)",
    )[0]
    assert total == with_email + without_email > 200  # more than one page: every match is imported
    assert without_email > 0

    campaign_id = await create_campaign(client, "Slovak companies")
    started = await client.post(
        f"/api/v1/campaigns/{campaign_id}/imports/directory", json={"filter": criteria}
    )
    assert started.status_code == 202, started.text
    assert started.json()["source"] == "directory"
    assert started.json()["filename"] == "Directory: SK, 10+ employees"
    done = await wait_for_import(client, started.json()["id"])
    assert done["state"] == "completed", done
    assert done["total_rows"] == total
    assert sum(done["counts"].values()) == total
    assert done["counts"]["imported"] == with_email
    assert done["counts"]["missing_email"] == without_email

    page = await wait_for_leads(client, campaign_id, with_email)
    assert page["total"] == with_email
    lead = (await client.get(f"/api/v1/leads/{page['items'][0]['id']}")).json()
    company = query(
        stack,
        "SELECT company_name, city, size_min FROM importer.directory_companies WHERE lower(email) = lower(%s)",
        lead["email"],
    )[0]
    assert (lead["company_name"], lead["city"], lead["custom"]["size_min"]) == (
        company[0],
        company[1],
        str(company[2]),
    )
    assert lead["custom"]["country"] == "SK"

    again = await client.post(f"/api/v1/campaigns/{campaign_id}/imports/directory", json={"filter": criteria})
    repeated = await wait_for_import(client, again.json()["id"])
    assert repeated["counts"]["imported"] == 0
    assert repeated["counts"]["already_in_campaign"] == with_email
    assert repeated["counts"]["missing_email"] == without_email

    bad = await client.post(
        f"/api/v1/campaigns/{campaign_id}/imports/directory", json={"filter": {"planet": "Mars"}}
    )
    assert bad.status_code == 422
    unknown = await client.post(
        f"/api/v1/campaigns/{uuid.uuid4()}/imports/directory", json={"filter": criteria}
    )
    assert unknown.status_code == 404


@pytest.fixture(scope="module")
async def pipeline_clients(stack: ServiceStack) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two fresh workspaces, so this module's pipeline leads are the only ones either of them has."""
    keys = [create_workspace_key(stack, name) for name in ("Pipeline owner", "Pipeline outsider")]
    clients = [
        httpx.AsyncClient(base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        for key in keys
    ]
    yield clients[0], clients[1]
    for c in clients:
        await c.aclose()


LEADS: list[Any] = [
    {
        "email": "jana.kralova@stavby-brno.cz",
        "first_name": "Jana",
        "last_name": "Králová",
        "company_name": "Stavby Brno s.r.o.",
        "city": "Brno",
        "industry": "Construction",
        "company_size": 40,
        "revenue": 2_000_000,
        "stage": "qualified",
    },
    {
        "email": "petr@software-praha.cz",
        "first_name": "Petr",
        "company_name": "Software Praha a.s.",
        "city": "Praha",
        "industry": "IT services",
        "company_size": 120,
        "revenue": 9_000_000,
        "stage": "new",
    },
    {"email": "not-an-address", "first_name": "Nobody"},
    {
        "email": "eva@obchod-brno.cz",
        "first_name": "Eva",
        "company_name": "Obchod Brno",
        "city": "Brno",
        "industry": "Retail",
        "company_size": 5,
        "stage": "new",
    },
    {"email": "x@firma.cz", "company_size": -5},
    {
        "first_name": "Tomáš",
        "last_name": "Bez Adresy",
        "company_name": "Bez e-mailu s.r.o.",
        "city": "Brno",
        "industry": "Construction",
        "company_size": 15,
    },
    {"email": "a@b.cz", "favourite_colour": "blue"},
    "not an object",
    {},
    {
        "email": "JANA.KRALOVA@Stavby-Brno.cz",
        "first_name": "Jana",
        "last_name": "Králová",
        "company_name": "Stavby Brno s.r.o.",
        "city": "Brno",
        "industry": "Construction",
        "company_size": 45,
        "stage": "won",
    },
]


async def test_pipeline_create_filter_and_import(
    pipeline_clients: tuple[httpx.AsyncClient, httpx.AsyncClient], stack: ServiceStack
) -> None:
    owner, outsider = pipeline_clients
    created = await owner.post("/api/v1/pipeline/leads", json=LEADS)
    assert created.status_code == 200, created.text
    body = created.json()
    errors = {e["index"]: e["error"] for e in body["errors"]}
    assert sorted(errors) == [2, 4, 6, 7, 8]
    assert "not-an-address" in errors[2]
    assert "company_size" in errors[4]
    assert "favourite_colour" in errors[6]
    assert "object" in errors[7]
    assert "email, a name or a company name" in errors[8]
    stored = {s["index"]: s for s in body["stored"]}
    assert sorted(stored) == [0, 1, 3, 5, 9]
    # The same address later in the list updates the same lead.
    assert stored[9]["id"] == stored[0]["id"] and not stored[9]["created"]
    assert (body["created"], body["updated"]) == (4, 1)

    brno = (await owner.get("/api/v1/pipeline/leads", params={"city": "Brno"})).json()
    assert brno["total"] == 3
    jana = next(i for i in brno["items"] if i["id"] == stored[0]["id"])
    assert (jana["company_size"], jana["stage"], jana["revenue"]) == (45, "won", None)
    sized = (await owner.get("/api/v1/pipeline/leads", params={"size_min": 10, "size_max": 100})).json()
    assert {i["id"] for i in sized["items"]} == {stored[0]["id"], stored[5]["id"]}
    accents = (await owner.get("/api/v1/pipeline/leads", params={"q": "KRALOVA"})).json()
    assert [i["id"] for i in accents["items"]] == [stored[0]["id"]]
    paged = (await owner.get("/api/v1/pipeline/leads", params={"limit": 2})).json()
    assert paged["total"] == 4 and len(paged["items"]) == 2 and paged["next_cursor"]

    # The outsider sees none of it, and its ids never reach the owner's leads.
    theirs = await outsider.post(
        "/api/v1/pipeline/leads", json=[{"email": "own@outsider.cz", "city": "Brno"}]
    )
    outsider_id = theirs.json()["stored"][0]["id"]
    assert (await outsider.get("/api/v1/pipeline/leads", params={"city": "Brno"})).json()["total"] == 1
    assert (await outsider.get("/api/v1/pipeline/leads", params={"q": "kralova"})).json()["total"] == 0

    campaign_id = await create_campaign(owner, "From the pipeline")
    by_ids = await owner.post(
        f"/api/v1/campaigns/{campaign_id}/imports/pipeline",
        json={"ids": [stored[0]["id"], stored[1]["id"], outsider_id]},
    )
    assert by_ids.status_code == 202, by_ids.text
    done = await wait_for_import(owner, by_ids.json()["id"])
    assert done["state"] == "completed" and done["source"] == "pipeline"
    assert done["total_rows"] == 2 and done["counts"]["imported"] == 2
    leads = await wait_for_leads(owner, campaign_id, 2)
    assert {i["email"] for i in leads["items"]} == {"JANA.KRALOVA@stavby-brno.cz", "petr@software-praha.cz"}

    by_filter = await owner.post(
        f"/api/v1/campaigns/{campaign_id}/imports/pipeline", json={"filter": {"city": "Brno"}}
    )
    done = await wait_for_import(owner, by_filter.json()["id"])
    assert done["filename"] == "Pipeline: Brno"
    assert done["total_rows"] == 3
    assert (
        done["counts"]["imported"],
        done["counts"]["already_in_campaign"],
        done["counts"]["missing_email"],
    ) == (1, 1, 1)
    await wait_for_leads(owner, campaign_id, 3)

    # Another workspace can neither import the owner's leads into its campaign nor use the owner's campaign.
    own_campaign = await create_campaign(outsider, "Outsider")
    stolen = await outsider.post(
        f"/api/v1/campaigns/{own_campaign}/imports/pipeline", json={"ids": [stored[0]["id"], stored[1]["id"]]}
    )
    done = await wait_for_import(outsider, stolen.json()["id"])
    assert done["total_rows"] == 0 and done["counts"]["imported"] == 0
    assert (
        await outsider.post(f"/api/v1/campaigns/{campaign_id}/imports/pipeline", json={"ids": [outsider_id]})
    ).status_code == 404
    assert (await outsider.get(f"/api/v1/imports/{by_ids.json()['id']}")).status_code == 404

    # A full request of long values travels to the importer in several messages and comes back whole.
    bulk = [{"email": f"lead{i}@bulk.cz", "company_name": "Č" * 200, "city": "Ostrava"} for i in range(1000)]
    response = await outsider.post("/api/v1/pipeline/leads", json=bulk)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1000 and response.json()["errors"] == []
    assert [s["index"] for s in response.json()["stored"]] == list(range(1000))
    assert (await outsider.get("/api/v1/pipeline/leads", params={"city": "Ostrava"})).json()["total"] == 1000

    neither = await owner.post(f"/api/v1/campaigns/{campaign_id}/imports/pipeline", json={})
    assert neither.status_code == 422
    too_many = await owner.post("/api/v1/pipeline/leads", json=[{"email": f"l{i}@x.cz"} for i in range(1001)])
    assert "1,000" in refusal(too_many)


async def test_city_filters_ignore_case_and_accents_and_the_preview_counts_what_the_import_reads(
    client: httpx.AsyncClient, stack: ServiceStack, directory: None
) -> None:
    plzen = query(stack, "SELECT id FROM importer.directory_companies WHERE city = 'Plzeň' ORDER BY id")
    brno = query(stack, "SELECT id FROM importer.directory_companies WHERE city = 'Brno' ORDER BY id")
    assert plzen and brno
    for spelled in ("plzen", "PLZEŇ", "Plzen"):
        found = (await client.get("/api/v1/directory/companies", params={"city": spelled})).json()
        assert found["total"] == len(plzen), spelled
    both = await all_pages(client, "/api/v1/directory/companies", {"city": ["plzen", "BRNO"]})
    assert [c["id"] for c in both] == sorted(r[0] for r in plzen + brno)

    # The preview takes the import's own filter object and lists exactly what the import then reads.
    criteria = {"city": ["plzen", "BRNO"], "industry": "Construction"}
    preview = await client.post("/api/v1/directory/companies/search", json={"filter": criteria, "limit": 3})
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    expected = query(
        stack,
        "SELECT id, email IS NULL FROM importer.directory_companies "
        "WHERE city IN ('Plzeň', 'Brno') AND industry = 'Construction' ORDER BY id",
    )
    assert shown["total"] == len(expected) > 3
    assert [c["id"] for c in shown["items"]] == [r[0] for r in expected[:3]]
    following = await client.post(
        "/api/v1/directory/companies/search",
        json={"filter": criteria, "limit": 200, "cursor": shown["next_cursor"]},
    )
    assert [c["id"] for c in following.json()["items"]] == [r[0] for r in expected[3:]]
    bad = await client.post("/api/v1/directory/companies/search", json={"filter": {"planet": "Mars"}})
    assert bad.status_code == 422

    campaign_id = await create_campaign(client, "Plzeň and Brno builders")
    started = await client.post(
        f"/api/v1/campaigns/{campaign_id}/imports/directory", json={"filter": criteria}
    )
    done = await wait_for_import(client, started.json()["id"])
    assert done["total_rows"] == shown["total"]
    assert done["counts"]["missing_email"] == sum(1 for r in expected if r[1])
    assert done["counts"]["imported"] == sum(1 for r in expected if not r[1])


async def test_pipeline_city_filter_ignores_case_and_accents_in_the_list_preview_and_import(
    stack: ServiceStack,
) -> None:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        headers={"Authorization": f"Bearer {create_workspace_key(stack, 'Pipeline cities')}"},
        timeout=30,
    ) as own:
        stored = await own.post(
            "/api/v1/pipeline/leads",
            json=[
                {"email": "a@plzen.cz", "city": "Plzeň", "company_size": 20, "revenue": 5_000_000},
                {"email": "b@plzen.cz", "city": "PLZEŇ", "company_size": 500},
                {"email": "c@brno.cz", "city": "Brno", "revenue": 100},
                {"email": "d@praha.cz", "city": "Praha"},
            ],
        )
        assert stored.status_code == 200, stored.text
        listed = (await own.get("/api/v1/pipeline/leads", params={"city": ["plzen", "brno"]})).json()
        assert sorted(i["email"] for i in listed["items"]) == ["a@plzen.cz", "b@plzen.cz", "c@brno.cz"]
        # The size and revenue filters take the directory's names.
        sized = (
            await own.get(
                "/api/v1/pipeline/leads", params={"city": "plzen", "size_max": 100, "revenue_min": 1}
            )
        ).json()
        assert [i["email"] for i in sized["items"]] == ["a@plzen.cz"]

        criteria = {"city": "PLZEN"}
        preview = (await own.post("/api/v1/pipeline/leads/search", json={"filter": criteria})).json()
        assert preview["total"] == 2
        campaign_id = await create_campaign(own, "Plzeň pipeline")
        started = await own.post(
            f"/api/v1/campaigns/{campaign_id}/imports/pipeline", json={"filter": criteria}
        )
        done = await wait_for_import(own, started.json()["id"])
        assert (done["total_rows"], done["counts"]["imported"]) == (2, 2)
