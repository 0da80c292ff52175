"""The leads list: sort orders with keyset paging (stable while leads arrive), page sizes, exact totals.

The expected order of every sort is computed by PostgreSQL itself (`ORDER BY col ASC|DESC NULLS LAST,
seq`), so the tests pin the API's contract, not its implementation (which splits NULLs into a segment).
Some leads' activity, status and validation are set with SQL straight in the read model: that also checks
that the counts the totals come from follow every writer of lead_view, not only the projection.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from services.gateway.search import grams, search_text
from services.runtime.bulk import copy_text
from services.runtime.collation import sort_key
from services.runtime.db import psycopg_conninfo
from tests.e2e.api import create_campaign, start_import, wait_for_import, wait_for_leads
from tests.harness import ServiceStack

COMPANIES = ["Žďárské strojírny", "acme", "Acme", "Beta s.r.o.", "Omega a.s.", "delta", "Zeta GmbH", "Ábel"]
MAPPING = {"email": "email", "first_name": "first", "company_name": "company"}

SORT_SQL = {
    None: "last_activity_at DESC NULLS LAST, seq DESC",  # the default: newest activity first
    "last_activity": "last_activity_at ASC NULLS LAST, seq ASC",
    "-last_activity": "last_activity_at DESC NULLS LAST, seq DESC",
    "company": "company_key ASC NULLS LAST, seq ASC",
    "-company": "company_key DESC NULLS LAST, seq DESC",
    "name": "name_key ASC NULLS LAST, seq ASC",
    "-name": "name_key DESC NULLS LAST, seq DESC",
    "email": "email ASC, seq ASC",
    "-email": "email DESC, seq DESC",
    "status": "status ASC, seq ASC",
    "-status": "status DESC, seq DESC",
}
# The leads with their sort keys: the order of company and name is the Czech collation's (its keys are
# pinned to Czech by tests/unit/gateway/test_collation.py); the rest is PostgreSQL's own ORDER BY.
ORDERED = "gateway.lead_view JOIN gateway.lead_search USING (seq, campaign_id, email)"
SORT_COLUMN = {
    "last_activity": "last_activity_at",
    "company": "company_name",
    "name": "last_name",
    "email": "email",
    "status": "status",
}


def csv_of(rows: list[tuple[str, str, str]]) -> bytes:
    return ("email,first,company\n" + "".join(f"{e},{f},{c}\n" for e, f, c in rows)).encode()


def lead_rows(prefix: str, count: int, seed: int) -> list[tuple[str, str, str]]:
    """Leads in shuffled order; every fifth has no company; companies repeat (ties go by seq)."""
    rng = random.Random(seed)
    rows = [
        (
            f"{prefix}{i:03d}.{rng.choice('abcxyz')}@example.com",
            f"Name{i}",
            "" if i % 5 == 0 else rng.choice(COMPANIES),
        )
        for i in range(count)
    ]
    rng.shuffle(rows)
    return rows


def sql(stack: ServiceStack, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(psycopg_conninfo(stack.database_url), autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


async def import_leads(client: httpx.AsyncClient, campaign_id: str, rows: list[tuple[str, str, str]]) -> str:
    listed = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params={"limit": 1})).json()["total"]
    started = await start_import(client, campaign_id, csv_of(rows), MAPPING)
    done = await wait_for_import(client, started["id"])
    assert done["state"] == "completed", done
    await wait_for_leads(client, campaign_id, listed + len(rows))
    return str(started["id"])


async def page_through(
    client: httpx.AsyncClient, campaign_id: str, limit: int, **params: Any
) -> list[dict[str, Any]]:
    """Every lead, following `next_cursor`; each page is full except the last."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit


async def sorted_campaign(client: httpx.AsyncClient, stack: ServiceStack) -> str:
    """45 leads; activity: distinct times with some ties, 6 never active; a mix of statuses/verdicts."""
    campaign_id = await create_campaign(client, "sorting")
    await import_leads(client, campaign_id, lead_rows("lead", 45, seed=1))
    rows = sql(
        stack, "SELECT id, seq FROM gateway.lead_view WHERE campaign_id = %s ORDER BY seq", campaign_id
    )
    rng = random.Random(2)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for n, (lead_id, _) in enumerate(rows):
        activity = None if n % 7 == 3 else base + timedelta(minutes=rng.randrange(20), microseconds=n % 3)
        status = rng.choice(["pending", "contacted", "replied", "bounced"])
        validation = rng.choice(["pending", "valid", "invalid", "unknown"])
        sql(
            stack,
            "UPDATE gateway.lead_view SET last_activity_at = %s, status = %s, validation = %s WHERE id = %s",
            activity,
            status,
            validation,
            lead_id,
        )
    return campaign_id


async def test_every_sort_both_directions_pages_in_order_with_nulls_last(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    campaign_id = await sorted_campaign(client, stack)
    for sort, order in SORT_SQL.items():
        expected = [
            str(r[0])
            for r in sql(
                stack,
                f"SELECT id FROM {ORDERED} WHERE campaign_id = %s ORDER BY {order}",
                campaign_id,
            )
        ]
        for limit in (4, 7, 45, 100):
            params = {"sort": sort} if sort else {}
            listed = await page_through(client, campaign_id, limit, **params)
            assert [i["id"] for i in listed] == expected, (sort, limit)
        if sort and sort.lstrip("-") in ("company", "last_activity"):
            field = SORT_COLUMN[sort.lstrip("-")]
            values = [i[field] for i in listed]
            nulls = values.count(None)
            assert nulls >= 6, sort  # the data has NULLs, and they come last in both directions
            assert values[-nulls:] == [None] * nulls and None not in values[:-nulls], sort
    # Filters and sorts combine.
    replied = await page_through(client, campaign_id, 3, sort="-company", status="replied")
    replied_ids = sql(
        stack,
        f"SELECT id FROM {ORDERED} WHERE campaign_id = %s AND status = 'replied' ORDER BY {SORT_SQL['-company']}",
        campaign_id,
    )
    assert [i["id"] for i in replied] == [str(r[0]) for r in replied_ids] and replied_ids


async def test_paging_is_stable_while_leads_are_imported(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    """Leads imported between page requests never repeat or push out a row: every original lead is listed
    once, the order never goes back, and a new lead shows up exactly when it sorts after the cursor."""
    campaign_id = await create_campaign(client, "stable paging")
    await import_leads(client, campaign_id, lead_rows("orig", 30, seed=3))
    original = {
        str(r[0]) for r in sql(stack, "SELECT id FROM gateway.lead_view WHERE campaign_id = %s", campaign_id)
    }
    for sort in (None, "company", "-company", "-last_activity"):
        order = SORT_SQL[sort]
        seen: list[str] = []
        cursor: str | None = None
        added: list[tuple[str, str]] = []  # (new lead id, id of the last row listed before it arrived)
        for page_number in range(100):
            params: dict[str, Any] = {"limit": 4, **({"sort": sort} if sort else {})}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(f"/api/v1/campaigns/{campaign_id}/leads", params=params)).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            if page_number in (1, 4):
                before = {
                    str(r[0])
                    for r in sql(
                        stack, "SELECT id FROM gateway.lead_view WHERE campaign_id = %s", campaign_id
                    )
                }
                await import_leads(
                    client, campaign_id, lead_rows(f"new{sort}{page_number}", 8, seed=page_number)
                )
                after = {
                    str(r[0])
                    for r in sql(
                        stack, "SELECT id FROM gateway.lead_view WHERE campaign_id = %s", campaign_id
                    )
                }
                added += [(lead_id, seen[-1]) for lead_id in after - before]
        assert len(seen) == len(set(seen)), f"{sort}: a lead was listed twice"
        assert original <= set(seen), f"{sort}: original leads missing: {original - set(seen)}"
        rank = {
            str(r[0]): n
            for n, r in enumerate(
                sql(
                    stack,
                    f"SELECT id FROM {ORDERED} WHERE campaign_id = %s ORDER BY {order}",
                    campaign_id,
                )
            )
        }
        assert [rank[i] for i in seen] == sorted(rank[i] for i in seen), f"{sort}: order went back"
        assert len(added) == 16
        for lead_id, cursor_row in added:
            assert (lead_id in seen) == (rank[lead_id] > rank[cursor_row]), (sort, lead_id)
        if sort is None:  # newest first: every new lead sorts before the cursor of the page it arrived after
            assert not any(lead_id in seen for lead_id, _ in added)


def expected_total(stack: ServiceStack, campaign_id: str, where: str = "TRUE", *params: Any) -> int:
    return int(
        sql(
            stack,
            f"SELECT count(*) FROM gateway.lead_view WHERE campaign_id = %s AND {where}",
            campaign_id,
            *params,
        )[0][0]
    )


async def test_totals_are_exact_for_every_filter(client: httpx.AsyncClient, stack: ServiceStack) -> None:
    campaign_id = await sorted_campaign(client, stack)
    second_import = await import_leads(client, campaign_id, lead_rows("more", 12, seed=9))
    path = f"/api/v1/campaigns/{campaign_id}/leads"

    async def check() -> None:
        cases: list[tuple[dict[str, Any], str, tuple[Any, ...]]] = [
            ({}, "TRUE", ()),
            ({"status": "replied"}, "status = 'replied'", ()),
            ({"status": ["replied", "bounced"]}, "status IN ('replied', 'bounced')", ()),
            ({"status": "unsubscribed"}, "status = 'unsubscribed'", ()),
            ({"validation": "valid"}, "validation = 'valid'", ()),
            (
                {"status": "pending", "validation": "unknown"},
                "status = 'pending' AND validation = 'unknown'",
                (),
            ),
            ({"import_id": second_import}, "import_id = %s", (second_import,)),
            (
                {"import_id": second_import, "status": "pending"},
                "import_id = %s AND status = 'pending'",
                (second_import,),
            ),
            ({"q": "acme"}, "search LIKE '%%acme%%'", ()),
            ({"q": "acme", "status": "replied"}, "search LIKE '%%acme%%' AND status = 'replied'", ()),
            ({"q": "   "}, "TRUE", ()),
        ]
        for params, where, args in cases:
            for limit in (1, 50):
                page = (await client.get(path, params={**params, "limit": limit})).json()
                assert page["total"] == expected_total(stack, campaign_id, where, *args), params
                assert page["total_is_estimate"] is False
                assert len(page["items"]) == min(limit, page["total"])

    await check()
    # Every kind of write keeps the counts right: a bulk UPDATE, a DELETE, and folding the delta log.
    sql(
        stack,
        "UPDATE gateway.lead_view SET status = 'unsubscribed' WHERE campaign_id = %s AND status = 'bounced'",
        campaign_id,
    )
    sql(stack, "UPDATE gateway.lead_view SET step = step + 1 WHERE campaign_id = %s", campaign_id)
    sql(
        stack,
        "DELETE FROM gateway.lead_view WHERE campaign_id = %s AND validation = 'invalid' AND status = 'pending'",
        campaign_id,
    )
    await check()
    sql(stack, "SELECT gateway.lead_counts_fold(%s)", campaign_id)
    rows = sql(stack, "SELECT count(*) FROM gateway.lead_counts WHERE campaign_id = %s", campaign_id)[0][0]
    assert rows <= 2 * 4 * 5  # one row per (import, status, validation) left
    await check()


async def test_broad_search_total_is_an_estimate_beyond_the_cap(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    """10,050 matches, over the cap of 5,000: the total is an estimate, flagged and close; pages list them all."""
    campaign_id = await create_campaign(client, "broad search")
    workspace_id = (await client.get("/api/v1/workspace")).json()["id"]
    rows = []
    for i in range(10_050):
        email, company = f"broad{i}@bulkco{i % 10}.cz", f"Bulkco {i % 10}"
        folded = search_text((email, company))
        rows.append(
            (
                uuid.uuid4(),
                workspace_id,
                campaign_id,
                email,
                company,
                folded,
                "{" + ",".join(map(str, grams(folded))) + "}",
                sort_key(company),
            )
        )
    with psycopg.connect(psycopg_conninfo(stack.database_url)) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY gateway.lead_view (id, workspace_id, campaign_id, email, company_name, search) FROM STDIN"
        ) as copy:
            copy.write(copy_text(row[:-2] for row in rows))
        # Their grams and company keys under the seq each just got, as the projection writes them.
        cur.execute("CREATE TEMP TABLE test_grams (id uuid, grams bigint[], company_key bytea)")
        with cur.copy("COPY test_grams (id, grams, company_key) FROM STDIN") as copy:
            copy.write(copy_text((row[0], row[-2], row[-1]) for row in rows))
        cur.execute(
            "INSERT INTO gateway.lead_search (seq, grams, campaign_id, company_name, email, company_key) "
            "SELECT v.seq, g.grams, v.campaign_id, v.company_name, v.email, g.company_key "
            "FROM test_grams AS g JOIN gateway.lead_view AS v ON v.id = g.id"
        )
    path = f"/api/v1/campaigns/{campaign_id}/leads"
    page = (await client.get(path, params={"q": "bulkco", "limit": 25})).json()
    assert page["total_is_estimate"] is True
    assert page["total"] > 5_000 and abs(page["total"] - 10_050) <= 3_000
    assert len(page["items"]) == 25 and page["next_cursor"]
    for sort in (None, "-company"):  # the pages of a broad search still hold every match, once
        listed = await page_through(client, campaign_id, 1000, q="bulkco", **({"sort": sort} if sort else {}))
        assert len({i["id"] for i in listed}) == len(listed) == 10_050
    narrow = (await client.get(path, params={"q": "bulkco3", "limit": 25})).json()  # the domain
    assert narrow["total"] == 1_005 and narrow["total_is_estimate"] is False
    everything = (await client.get(path, params={"limit": 1})).json()
    assert everything["total"] == 10_050 and everything["total_is_estimate"] is False


async def test_page_sizes(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client, "page sizes")
    await import_leads(client, campaign_id, lead_rows("size", 130, seed=4))
    path = f"/api/v1/campaigns/{campaign_id}/leads"
    for limit in (25, 50, 100):
        page = (await client.get(path, params={"limit": limit, "sort": "email"})).json()
        assert len(page["items"]) == limit and page["total"] == 130 and page["next_cursor"]
        listed = await page_through(client, campaign_id, limit, sort="email")
        assert len(listed) == 130 and len({i["id"] for i in listed}) == 130
    last = (await client.get(path, params={"limit": 1000})).json()
    assert len(last["items"]) == 130 and last["next_cursor"] is None
    assert len((await client.get(path)).json()["items"]) == 50  # the default
    for limit in (0, 1001):
        assert (await client.get(path, params={"limit": limit})).status_code == 422


async def test_invalid_sort_and_cursor_are_422(client: httpx.AsyncClient, stack: ServiceStack) -> None:
    campaign_id = await create_campaign(client, "invalid")
    await import_leads(client, campaign_id, lead_rows("bad", 6, seed=5))
    path = f"/api/v1/campaigns/{campaign_id}/leads"
    for sort in ("surname", "--email", "EMAIL", "seq", "+company", ""):
        assert (await client.get(path, params={"sort": sort})).status_code == 422, sort

    def forged(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    company_cursor = (await client.get(path, params={"limit": 2, "sort": "company"})).json()["next_cursor"]
    bad = [
        ({}, "not a cursor"),
        ({}, "%%%"),
        ({}, forged({"seq": 1})),
        ({}, forged([1, 2])),
        ({}, forged(-1)),
        ({}, forged(2**70)),
        ({}, company_cursor),  # a cursor of another sort
        ({"sort": "email"}, company_cursor),
        ({"sort": "-company"}, company_cursor),
        ({"sort": "email"}, forged(["email", None, 3])),  # email is never NULL
        ({"sort": "email"}, forged(["email", 5, 3])),
        ({"sort": "last_activity"}, forged(["last_activity", "yesterday", 3])),
        ({"sort": "last_activity"}, forged(["last_activity", "2026-11-01T10:00:00", 3])),  # no zone
        ({"sort": "company"}, forged(["company", "a\x00b", 3])),
        ({"sort": "company"}, forged(["company", "a", 2**63])),
    ]
    for params, cursor in bad:
        response = await client.get(path, params={**params, "cursor": cursor})
        assert response.status_code == 422, (params, cursor, response.text)
    # Cursors of arrival order, the old default, still page on in arrival order: the one handed out before
    # sorting existed (base64 of the seq) and the one handed out before the default became newest first.
    arrival = [
        str(r[0])
        for r in sql(
            stack, "SELECT id FROM gateway.lead_view WHERE campaign_id = %s ORDER BY seq", campaign_id
        )
    ]
    seq = sql(stack, "SELECT seq FROM gateway.lead_view WHERE id = %s", arrival[1])[0][0]
    old_style = base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")
    rest = (await client.get(path, params={"cursor": old_style})).json()
    assert [i["id"] for i in rest["items"]] == arrival[2:]
    sorted_style = forged(["", None, seq])
    assert (await client.get(path, params={"cursor": sorted_style})).json()["items"] == rest["items"]
    assert (await client.get(path, params={"cursor": company_cursor, "sort": "company"})).status_code == 200
