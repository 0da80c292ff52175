"""ChunkWriter on a real PostgreSQL: several chunks in one transaction, every outcome, the checkpoint."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from contracts import LeadImported, parse_event
from services.importer.chunks import Chunk, RowStream, next_chunk
from services.importer.domain import empty_counts
from services.importer.writer import ChunkWriter, ImportSuperseded, Job
from services.runtime.db import psycopg_conninfo

MAPPING = {"email": "email", "company_name": "company"}


@pytest.fixture
async def conn(migrated_database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(
        psycopg_conninfo(migrated_database_url), autocommit=True
    ) as connection:
        yield connection


async def new_job(conn: psycopg.AsyncConnection[Any], campaign_id: uuid.UUID | None = None) -> Job:
    job = Job(uuid.uuid4(), uuid.uuid4(), campaign_id or uuid.uuid4())
    await conn.execute(
        "INSERT INTO importer.imports (id, workspace_id, campaign_id, mapping, counts) "
        "VALUES (%s, %s, %s, %s, %s)",
        (job.id, job.workspace_id, job.campaign_id, json.dumps(MAPPING), json.dumps(empty_counts())),
    )
    return job


def chunks_of(
    job: Job, rows: list[dict[str, str]], size: int, first_row: int = 1, first_chunk: int = 0
) -> list[Chunk]:
    numbered = RowStream(enumerate(rows, start=first_row))
    out: list[Chunk] = []
    ids = (job.workspace_id, job.campaign_id, job.id)
    while (chunk := next_chunk(numbered, size, MAPPING, ids, first_chunk + len(out))) is not None:
        out.append(chunk)
    return out


async def test_one_transaction_of_several_chunks_classifies_every_row(
    conn: psycopg.AsyncConnection[Any],
) -> None:
    campaign_id = uuid.uuid4()
    earlier = await new_job(conn, campaign_id)
    job = Job(uuid.uuid4(), earlier.workspace_id, campaign_id)
    await conn.execute(
        "INSERT INTO importer.imports (id, workspace_id, campaign_id, mapping, counts) VALUES (%s, %s, %s, %s, %s)",
        (job.id, job.workspace_id, job.campaign_id, json.dumps(MAPPING), json.dumps(empty_counts())),
    )
    # Another import of the campaign already brought one address; one is on the suppression list.
    earlier_writer = ChunkWriter(conn, earlier)
    await earlier_writer.prepare()
    first = await earlier_writer.store(
        chunks_of(earlier, [{"email": "taken@firma.cz", "company": "A"}], 10),
        rows_done=0,
        chunks_done=0,
        counts=empty_counts(),
    )
    assert first is not None
    await conn.execute(
        "INSERT INTO importer.suppressions (workspace_id, email_key, email, reason, source) "
        "VALUES (%s, 'blocked@firma.cz', 'blocked@firma.cz', 'unsubscribed', 'manual')",
        (job.workspace_id,),
    )

    rows = [
        {"email": "a@firma.cz", "company": "A"},  # chunk 0
        {"email": "A@FIRMA.CZ", "company": "A"},  # chunk 0: duplicate within the chunk (worker)
        {"email": "b@firma.cz", "company": "B"},  # chunk 1
        {"email": "a@Firma.cz", "company": "A"},  # chunk 1: duplicate of chunk 0, same transaction
        {"email": "Taken@firma.cz", "company": "T"},  # chunk 2: already in the campaign
        {"email": "blocked@firma.cz", "company": "X"},  # chunk 2: suppressed
        {"email": "not an address", "company": "X"},  # chunk 3: invalid
        {"email": "", "company": "X"},  # chunk 3: missing
    ]
    chunks = chunks_of(job, rows, 2)
    assert len(chunks) == 4
    writer = ChunkWriter(conn, job)
    await writer.prepare()
    counts = empty_counts()
    stored = await writer.store(chunks, rows_done=0, chunks_done=0, counts=counts)
    assert stored is not None
    assert (stored.rows_done, stored.chunks_done) == (8, 4)
    assert counts == {
        "imported": 2,
        "duplicate_in_file": 2,
        "already_in_campaign": 1,
        "suppressed": 1,
        "invalid_format": 1,
        "missing_email": 1,
        "rejected": 0,
    }

    cur = await conn.execute(
        "SELECT row, outcome FROM importer.rejected_rows WHERE import_id = %s ORDER BY row", (job.id,)
    )
    assert await cur.fetchall() == [
        (2, "duplicate_in_file"),
        (4, "duplicate_in_file"),
        (5, "already_in_campaign"),
        (6, "suppressed"),
        (7, "invalid_format"),
        (8, "missing_email"),
    ]
    cur = await conn.execute(
        "SELECT id, email, source_row, company_name FROM importer.leads WHERE import_id = %s ORDER BY source_row",
        (job.id,),
    )
    leads = await cur.fetchall()
    assert [(email, row, company) for _, email, row, company in leads] == [
        ("a@firma.cz", 1, "A"),
        ("b@firma.cz", 3, "B"),
    ]

    # One LeadImported per chunk that imported anything, holding exactly the inserted leads and their ids.
    events = {event_id: payload for event_id, _, payload in stored.events}
    cur = await conn.execute(
        "SELECT event_id, payload FROM importer.outbox WHERE event_id = ANY(%s)", (list(events),)
    )
    in_outbox = {event_id: bytes(payload) for event_id, payload in await cur.fetchall()}
    assert in_outbox == events
    parsed = sorted((LeadImported.model_validate_json(p) for p in events.values()), key=lambda e: e.chunk)
    assert all(isinstance(parse_event(p), LeadImported) for p in events.values())
    assert [(e.chunk, [(str(x.lead_id), x.email, x.row) for x in e.leads]) for e in parsed] == [
        (0, [(str(leads[0][0]), "a@firma.cz", 1)]),
        (1, [(str(leads[1][0]), "b@firma.cz", 3)]),
    ]

    cur = await conn.execute(
        "SELECT rows_done, chunks_done, counts FROM importer.imports WHERE id = %s", (job.id,)
    )
    assert await cur.fetchone() == (8, 4, counts)


async def test_a_moved_checkpoint_or_a_cancel_stores_nothing(conn: psycopg.AsyncConnection[Any]) -> None:
    job = await new_job(conn)
    writer = ChunkWriter(conn, job)
    await writer.prepare()
    chunks = chunks_of(job, [{"email": "a@firma.cz", "company": "A"}], 10)
    with pytest.raises(ImportSuperseded):
        await writer.store(chunks, rows_done=5, chunks_done=0, counts=empty_counts())
    await conn.execute("UPDATE importer.imports SET cancel_requested = true WHERE id = %s", (job.id,))
    assert await writer.store(chunks, rows_done=0, chunks_done=0, counts=empty_counts()) is None
    cur = await conn.execute("SELECT count(*) FROM importer.leads WHERE import_id = %s", (job.id,))
    assert await cur.fetchone() == (0,)
