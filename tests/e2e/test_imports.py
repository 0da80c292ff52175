"""The CSV import wizard's API end to end: preview, breakdown, report, suppressions, SSE, cancel, bad input."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
from nats.aio.msg import Msg

from contracts import EmailBounced, ImportProgress, LeadUnsubscribed, parse_event
from tests.e2e.api import create_campaign, refusal, start_import, wait_for_import, wait_for_leads
from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack

CZECH = "E-mail;Jméno;Příjmení;Firma;Telefon;Město;Obor;Poznámka\r\n" + "".join(
    f"jiri.capek{i}@zdar.cz;Jiří;Čapek;Žďárské strojírny s.r.o.;+420 600 000 {i:03d};Žďár;Strojírenství;ř{i}\r\n"
    for i in range(30)
)


async def preview(client: httpx.AsyncClient, data: bytes) -> httpx.Response:
    return await client.post("/api/v1/imports/preview", files={"file": ("x.csv", data, "text/csv")})


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("cp1250", "cp1250"),
        ("iso8859-2", "iso8859-2"),
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),
    ],
)
async def test_preview_detects_format_and_suggests_mapping(
    client: httpx.AsyncClient, encoding: str, expected: str
) -> None:
    response = await preview(client, CZECH.encode(encoding))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["encoding"] == expected
    assert body["delimiter"] == ";"
    assert body["headers"] == ["E-mail", "Jméno", "Příjmení", "Firma", "Telefon", "Město", "Obor", "Poznámka"]
    assert len(body["rows"]) == 20
    assert body["rows"][0][:4] == ["jiri.capek0@zdar.cz", "Jiří", "Čapek", "Žďárské strojírny s.r.o."]
    assert body["suggested_mapping"] == {
        "email": "E-mail",
        "first_name": "Jméno",
        "last_name": "Příjmení",
        "company_name": "Firma",
        "phone": "Telefon",
        "city": "Město",
        "industry": "Obor",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\r\n\r\n  \r\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b",,,\nx@firma.cz,a,b,c\n", "header row"),
    ],
)
async def test_preview_rejects_unreadable_files(client: httpx.AsyncClient, data: bytes, message: str) -> None:
    response = await preview(client, data)
    assert message in refusal(response).lower()


async def test_a_header_of_forty_thousand_columns_is_refused_and_one_of_a_thousand_previewed(
    client: httpx.AsyncClient,
) -> None:
    # The header once kept the importer's loop busy for 17 s, so every workspace's commands timed out (503).
    wide = ",".join(f"c{i}" for i in range(40_000)).encode() + b"\nx@firma.cz\n"
    refused = await preview(client, wide)
    assert "40,000 columns; a file may have at most 1,000" in refusal(refused)

    header = ["email", *(f"c{i}" for i in range(999))]
    allowed = await preview(client, (",".join(header) + "\n" + "x@firma.cz" + "," * 999 + "\n").encode())
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["headers"] == header
    assert allowed.json()["suggested_mapping"] == {"email": "email"}


async def test_breakdown_report_and_suppressions(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client, "breakdown")
    first = await start_import(client, campaign_id, b"email\nalready@firma.cz\n", {"email": "email"})
    await wait_for_import(client, first["id"])
    added = await client.post(
        "/api/v1/suppressions", json={"email": "Blocked@Firma.cz", "reason": "asked us"}
    )
    assert added.status_code == 201, added.text
    assert added.json()["email"] == "Blocked@firma.cz" and added.json()["source"] == "manual"

    rows = [
        ["email", "company", "note"],
        ["new@firma.cz", '=HYPERLINK("http://evil")', "imported"],
        ["NEW@firma.cz", "Firma", "duplicate in file"],
        ["already@firma.cz", "Firma", "already in campaign"],
        ["blocked@firma.cz", "Firma", "suppressed"],
        ["=cmd|' /C calc'!A0", "Firma", "invalid, formula-looking"],
        ["", "Firma", "missing email"],
        ["ragged@firma.cz", "Firma", "too", "many", "fields"],
        ["second@firma.cz", "Firma", "imported"],
    ]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    started = await start_import(
        client, campaign_id, out.getvalue().encode(), {"email": "email", "company_name": "company"}
    )
    done = await wait_for_import(client, started["id"])
    assert done["state"] == "completed", done
    assert done["counts"] == {
        "imported": 2,
        "duplicate_in_file": 1,
        "already_in_campaign": 1,
        "suppressed": 1,
        "invalid_format": 1,
        "missing_email": 1,
        "rejected": 1,
    }
    assert done["total_rows"] == 8 and done["rows_done"] == 8

    report = await client.get(done["report_url"])
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert lines[0] == ["row", "value", "outcome", "reason"]
    by_row = {int(line[0]): line for line in lines[1:]}
    assert sorted(by_row) == [2, 3, 4, 5, 6, 7]
    assert by_row[2][1:3] == ["NEW@firma.cz", "duplicate_in_file"]
    assert by_row[3][2] == "already_in_campaign"
    assert by_row[4][2] == "suppressed" and "asked us" in by_row[4][3]
    assert by_row[5][1] == "'=cmd|' /C calc'!A0" and by_row[5][2] == "invalid_format"
    assert by_row[6][2] == "missing_email"
    assert by_row[7][2] == "rejected" and "5 fields" in by_row[7][3]

    page = await wait_for_leads(client, campaign_id, 3)
    assert {i["email"] for i in page["items"]} == {"already@firma.cz", "new@firma.cz", "second@firma.cz"}

    listed = (await client.get("/api/v1/suppressions", params={"q": "blocked"})).json()
    assert [i["email"] for i in listed["items"]] == ["Blocked@firma.cz"] and listed["total"] == 1
    assert (await client.post("/api/v1/suppressions", json={"email": "not an address"})).status_code == 422
    assert (await client.delete("/api/v1/suppressions/blocked@FIRMA.cz")).status_code == 204
    assert (await client.delete("/api/v1/suppressions/blocked@firma.cz")).status_code == 404
    again = await wait_for_import(
        client,
        (await start_import(client, campaign_id, b"email\nblocked@firma.cz\n", {"email": "email"}))["id"],
    )
    assert again["counts"]["imported"] == 1


async def test_suppressions_belong_to_their_workspace(client: httpx.AsyncClient, stack: ServiceStack) -> None:
    await client.post("/api/v1/suppressions", json={"email": "mine@firma.cz"})
    other_key = create_workspace_key(stack, "Suppression neighbour")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {other_key}"}
    ) as other:
        assert (await other.get("/api/v1/suppressions")).json()["total"] == 0
        assert (await other.delete("/api/v1/suppressions/mine@firma.cz")).status_code == 404
        campaign_id = await create_campaign(other, "neighbour")
        done = await wait_for_import(
            other,
            (await start_import(other, campaign_id, b"email\nmine@firma.cz\n", {"email": "email"}))["id"],
        )
        assert done["counts"]["imported"] == 1


def many_rows(rows: int, prefix: str) -> bytes:
    return ("email,name\n" + "".join(f"{prefix}{i}@bulk{i % 50}.cz,N{i}\n" for i in range(rows))).encode()


async def read_sse(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with client.stream("GET", url, headers=headers, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
                continue
            field, _, value = line.partition(":")
            current[field] = value.strip()
    return events


async def test_sse_streams_progress_to_the_final_breakdown(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client, "sse")
    started = await start_import(client, campaign_id, many_rows(30_000, "sse"), {"email": "email"})
    events = await read_sse(client, f"/api/v1/imports/{started['id']}/events")
    final = events[-1]
    assert final["event"] == "completed" and final["id"] == "final"
    body = json.loads(final["data"])
    assert body["counts"]["imported"] == 30_000 and body["percent"] == 100
    progress = [json.loads(e["data"]) for e in events[:-1]]
    assert all(e["event"] == "progress" for e in events[:-1])
    percents = [p["percent"] for p in progress]
    assert percents == sorted(percents)
    assert [int(e["id"]) for e in events[:-1]] == sorted({int(e["id"]) for e in events[:-1]})

    # Reconnecting after the end gets the final event at once.
    again = await read_sse(
        client, f"/api/v1/imports/{started['id']}/events", headers={"Last-Event-ID": "final"}
    )
    assert [e["event"] for e in again] == ["completed"]
    resumed = await read_sse(
        client, f"/api/v1/imports/{started['id']}/events", headers={"Last-Event-ID": "15000"}
    )
    assert resumed[-1]["event"] == "completed"
    assert (
        await client.get(f"/api/v1/imports/{started['id']}/events", headers={"Authorization": "Bearer x"})
    ).status_code == 401


async def test_progress_says_of_how_many_rows_as_soon_as_the_first_pass_has_counted_them(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    rows = 60_000
    campaign_id = await create_campaign(client, "of N")
    published: list[ImportProgress] = []

    async def collect(msg: Msg) -> None:
        event = parse_event(msg.data)
        assert isinstance(event, ImportProgress)
        published.append(event)

    nc = await nats.connect(stack.nats_url)
    try:
        await nc.subscribe("leadflow-progress.*", cb=collect)
        started = await start_import(client, campaign_id, many_rows(rows, "ofn"), {"email": "email"})
        events = await read_sse(client, f"/api/v1/imports/{started['id']}/events")
    finally:
        await nc.drain()
    ours = [e for e in published if str(e.import_id) == started["id"]]
    # The first progress the importer sends is the total, before any chunk is stored.
    assert (ours[0].rows_done, ours[0].total_rows) == (0, rows)
    assert all(e.total_rows == rows for e in ours)

    progress = [json.loads(e["data"]) for e in events if e["event"] == "progress"]
    assert len(progress) > 2
    assert all(p["total_rows"] == rows for p in progress)
    assert json.loads(events[-1]["data"])["total_rows"] == rows


async def test_cancel_stops_an_import_and_keeps_what_it_imported(client: httpx.AsyncClient) -> None:
    campaign_id = await create_campaign(client, "cancel")
    started = await start_import(client, campaign_id, many_rows(200_000, "cancel"), {"email": "email"})
    for _ in range(300):
        status = (await client.get(f"/api/v1/imports/{started['id']}")).json()
        if status["rows_done"] > 0:
            break
        await asyncio.sleep(0.05)
    cancelled = await client.post(f"/api/v1/imports/{started['id']}/cancel")
    assert cancelled.status_code == 202
    done = await wait_for_import(client, started["id"])
    assert done["state"] == "cancelled", done
    imported = done["counts"]["imported"]
    assert 0 < imported < 200_000
    page = await wait_for_leads(client, campaign_id, imported)
    assert page["total"] == imported
    await asyncio.sleep(1)
    assert (await client.get(f"/api/v1/campaigns/{campaign_id}/leads")).json()["total"] == imported
    assert (await client.post(f"/api/v1/imports/{started['id']}/cancel")).json()["state"] == "cancelled"


@pytest.mark.parametrize(
    ("data", "mapping", "message"),
    [
        (b"   \n\n", {"email": "email"}, "The file is empty."),
        (b"email,name\nx@firma.cz,\x00\x01\x02\n", {"email": "email"}, "binary"),
        (b"email\n" + b"a" * (1024 * 1024 + 10) + b"@firma.cz\n", {"email": "email"}, "longer than 1 MB"),
        (b"Mail\nx@firma.cz\n", {"email": "E-mail"}, "'E-mail'"),
        # Valid UTF-8 for the first 64 KB, then a cp1250 byte: the guess was wrong, nothing is imported.
        (
            b"email,name\n" + b"ok@firma.cz,Jan\n" * 5000 + "late@firma.cz,Jiří\n".encode("cp1250"),
            {"email": "email"},
            "utf-8",
        ),
    ],
    ids=["blank", "binary", "long-line", "missing-column", "wrong-encoding"],
)
async def test_bad_files_fail_clearly_and_import_nothing(
    client: httpx.AsyncClient, data: bytes, mapping: dict[str, str], message: str
) -> None:
    campaign_id = await create_campaign(client, "bad input")
    started = await start_import(client, campaign_id, data, mapping)
    done = await wait_for_import(client, started["id"])
    assert done["state"] == "failed", done
    assert message in done["error"]
    assert done["counts"]["imported"] == 0
    await asyncio.sleep(0.3)
    assert (await client.get(f"/api/v1/campaigns/{campaign_id}/leads")).json()["total"] == 0


async def test_upload_over_the_limit_is_refused(stack: ServiceStack, api_key: str) -> None:
    small = stack.extra("gateway", LEADFLOW_IMPORT_MAX_BYTES="2000")
    small.start()
    try:
        async with httpx.AsyncClient(
            base_url=small.base_url, headers={"Authorization": f"Bearer {api_key}"}
        ) as c:
            campaign_id = await create_campaign(c, "limit")
            response = await c.post(
                f"/api/v1/campaigns/{campaign_id}/imports",
                files={"file": ("big.csv", b"email\n" + b"x@firma.cz\n" * 10_000, "text/csv")},
                data={"mapping": '{"email": "email"}'},
            )
            assert response.status_code == 413
            assert "limit" in response.json()["detail"]
            ok = await c.post(
                f"/api/v1/campaigns/{campaign_id}/imports",
                files={"file": ("small.csv", b"email\nx@firma.cz\n", "text/csv")},
                data={"mapping": '{"email": "email"}'},
            )
            assert ok.status_code == 202
    finally:
        small.stop()


def multipart(file: bytes, **fields: str) -> tuple[str, bytes]:
    """A multipart/form-data body (its content type and bytes) with `file` as the part named "file"."""
    boundary = "leadflow-test-8c1d4e"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + file
        + b"\r\n"
    )
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + f"--{boundary}--\r\n".encode()


async def post_chunked(client: httpx.AsyncClient, url: str, file: bytes, **fields: str) -> httpx.Response:
    """POST without Content-Length: the body goes as `Transfer-Encoding: chunked`, as streaming clients send."""
    content_type, body = multipart(file, **fields)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    response = await client.post(url, content=pieces(), headers={"Content-Type": content_type})
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    return response


async def test_a_chunked_upload_over_the_limit_is_refused_with_413_on_every_upload_route(
    stack: ServiceStack, api_key: str
) -> None:
    small = stack.extra(
        "gateway", LEADFLOW_IMPORT_MAX_BYTES="2000", LEADFLOW_SUPPRESSION_UPLOAD_MAX_BYTES="1000"
    )
    small.start()
    try:
        async with httpx.AsyncClient(
            base_url=small.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        ) as c:
            campaign_id = await create_campaign(c, "chunked limit")
            # Well past the limit and the allowance for multipart framing (64 KB).
            big = b"email\n" + b"x@firma.cz\n" * 20_000
            uploads = [
                (f"/api/v1/campaigns/{campaign_id}/imports", {"mapping": '{"email": "email"}'}, 2000),
                ("/api/v1/imports/preview", {}, 2000),
                ("/api/v1/suppressions/upload", {}, 1000),
            ]
            for url, fields, limit in uploads:
                refused = await post_chunked(c, url, big, **fields)
                assert refused.status_code == 413, (url, refused.text)
                assert refused.json() == {
                    "detail": f"The upload is larger than the limit of {limit:,} bytes."
                }
            fits = b"email\nchunked@firma.cz\n"
            started = await post_chunked(c, uploads[0][0], fits, mapping='{"email": "email"}')
            assert started.status_code == 202, started.text
            previewed = await post_chunked(c, "/api/v1/imports/preview", fits)
            assert previewed.status_code == 200 and previewed.json()["headers"] == ["email"]
            listed = await post_chunked(c, "/api/v1/suppressions/upload", fits)
            assert listed.status_code == 200 and listed.json()["added"] == 1
    finally:
        small.stop()


async def test_unsubscribes_and_hard_bounces_join_the_suppression_list(
    client: httpx.AsyncClient, stack: ServiceStack
) -> None:
    workspace_id = uuid.UUID((await client.get("/api/v1/workspace")).json()["id"])
    campaign_id, lead_id = uuid.uuid4(), uuid.uuid4()
    events = [
        LeadUnsubscribed(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            lead_id=lead_id,
            email="Gone@Firma.cz",
            source="link",
        ),
        EmailBounced(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            lead_id=lead_id,
            email="dead@firma.cz",
            source="dsn",
            kind="hard",
            smtp_code=550,
        ),
        EmailBounced(
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            lead_id=lead_id,
            email="full@firma.cz",
            source="smtp",
            kind="soft",
            smtp_code=452,
        ),
    ]
    nc = await nats.connect(stack.nats_url)
    try:
        for event in events:
            await nc.jetstream().publish(
                event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
            )
    finally:
        await nc.close()
    for _ in range(100):
        listed = (await client.get("/api/v1/suppressions", params={"limit": 1000})).json()
        by_email = {item["email"]: item for item in listed["items"]}
        if "Gone@firma.cz" in by_email and "dead@firma.cz" in by_email:
            break
        await asyncio.sleep(0.1)
    assert by_email["Gone@firma.cz"]["source"] == "unsubscribed"
    assert by_email["dead@firma.cz"]["source"] == "bounced" and "550" in by_email["dead@firma.cz"]["reason"]
    assert "full@firma.cz" not in by_email  # a soft bounce does not suppress


async def test_quoted_line_breaks_come_back_exactly_as_written(client: httpx.AsyncClient) -> None:
    # RFC 4180: records end with CRLF, and a quoted field keeps its own CRLF, LF or CR untouched, in the
    # preview, in the lead's fields, in its custom values and in the export.
    data = (
        b"email,company,note\r\n"
        b'crlf@firma.cz,"Firma\r\ns.r.o.","first\r\nsecond"\r\n'
        b'lf@firma.cz,"Firma\ns.r.o.","first\nsecond"\r\n'
        b'cr@firma.cz,"Firma\rs.r.o.","first\rsecond"\r\n'
    )
    expected = {
        "crlf@firma.cz": ("Firma\r\ns.r.o.", "first\r\nsecond"),
        "lf@firma.cz": ("Firma\ns.r.o.", "first\nsecond"),
        "cr@firma.cz": ("Firma\rs.r.o.", "first\rsecond"),
    }
    shown = (await preview(client, data)).json()
    assert {row[0]: (row[1], row[2]) for row in shown["rows"]} == expected

    campaign_id = await create_campaign(client, "line breaks")
    started = await start_import(client, campaign_id, data, {"email": "email", "company_name": "company"})
    assert (await wait_for_import(client, started["id"]))["counts"]["imported"] == 3
    page = await wait_for_leads(client, campaign_id, 3)
    stored = {}
    for item in page["items"]:
        lead = (await client.get(f"/api/v1/leads/{item['id']}")).json()
        stored[lead["email"]] = (lead["company_name"], lead["custom"]["note"])
    assert stored == expected
    export = await client.get(f"/api/v1/campaigns/{campaign_id}/leads/export.csv")
    exported = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"), newline="")))
    assert {r["email"]: (r["company_name"], r["note"]) for r in exported} == expected


async def test_rows_with_much_data_are_all_listed_and_a_row_too_large_for_a_lead_is_rejected(
    client: httpx.AsyncClient,
) -> None:
    """1,000 rows of ~1.3 KB each would make one LeadImported larger than NATS accepts (1 MB): the chunk is
    cut short instead, so every lead reaches the list; a row larger than a lead may be is rejected."""
    campaign_id = await create_campaign(client, "wide rows")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "note", "history", "a", "b", "c"])
    for i in range(3000):
        writer.writerow([f"lead{i}@sirka.cz", f"poznámka {i} " * 50, "ř" * 600, "", "", ""])
    writer.writerow(["huge@sirka.cz", "", "", "x" * 100_000, "y" * 100_000, "z" * 100_000])
    started = await start_import(client, campaign_id, out.getvalue().encode(), {"email": "email"})
    done = await wait_for_import(client, started["id"])
    assert done["state"] == "completed", done
    assert done["counts"]["imported"] == 3000 and done["counts"]["rejected"] == 1, done["counts"]
    report = await client.get(done["report_url"])
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert [line[:3] for line in lines[1:]] == [["3001", "huge@sirka.cz", "rejected"]]
    assert "at most 256 KB" in lines[1][3]
    page = await wait_for_leads(client, campaign_id, 3000)
    assert page["total"] == 3000
