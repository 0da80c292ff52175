"""A campaign's leads as CSV: the list's filter, in list order, streamed from a server-side cursor so a
100k-lead campaign never sits in memory; cells a spreadsheet would run as a formula are quoted."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

import psycopg
import structlog
from sqlalchemy import and_, func, select
from sqlalchemy.exc import SQLAlchemyError

from services.gateway.leads.queries import lead_conditions
from services.gateway.leads.schemas import LeadFilter
from services.gateway.tables import lead_view
from services.runtime.service import Service
from services.runtime.spreadsheet import spreadsheet_safe

log = structlog.get_logger(__name__)


EXPORT_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "company_name",
    "phone",
    "website",
    "city",
    "industry",
    "status",
    "step",
    "total_steps",
    "validation",
    "validation_reason",
    "last_activity_at",
    "created_at",
)
# Rows fetched per round trip of the server-side cursor, and written per chunk of the response.
EXPORT_BATCH = 1000


def _cell(value: Any) -> str:
    """A value as a spreadsheet will see it: text that starts like a formula is quoted (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return spreadsheet_safe(str(value))


def custom_headers(keys: Sequence[str]) -> list[str]:
    """One column per custom key, named after it; a key that repeats a standard column gets `custom.`."""
    return [f"custom.{key}" if key in EXPORT_COLUMNS else key for key in keys]


def content_disposition(campaign_name: str) -> str:
    """`attachment` with an ASCII name every client accepts, and the real name for those that read it."""
    ascii_name = unicodedata.normalize("NFKD", campaign_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").lower() or "campaign"
    return (
        f"attachment; filename=\"leads-{slug}.csv\"; filename*=UTF-8''{quote(f'leads-{campaign_name}.csv')}"
    )


class ExportAborted(Exception):
    """The export failed after its first bytes were sent: the response ends without its last chunk, so
    the client sees a broken download, never a shorter file that looks complete."""


async def export_rows(
    service: Service, workspace_id: UUID, campaign_id: UUID, lead_filter: LeadFilter
) -> AsyncGenerator[bytes, None]:
    """The CSV in chunks of EXPORT_BATCH rows. The first chunk (BOM, header and the first batch) comes
    only once both queries have run, so the route can still answer an error status if they fail."""
    conditions = and_(*lead_conditions(workspace_id, campaign_id, lead_filter))
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel reads UTF-8 (accents) only with a BOM
    async with service.sessions() as session:
        # One snapshot for both passes, so the header names every custom key of the rows that follow.
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        key = func.jsonb_object_keys(lead_view.c.custom)
        keys = sorted((await session.scalars(select(key).where(conditions).distinct())).all())
        writer = csv.writer(buffer)
        writer.writerow([_cell(header) for header in (*EXPORT_COLUMNS, *custom_headers(keys))])
        columns = [lead_view.c[name] for name in EXPORT_COLUMNS]
        result = await session.stream(
            select(*columns, lead_view.c.custom)
            .where(conditions)
            .order_by(lead_view.c.seq)
            .execution_options(yield_per=EXPORT_BATCH)
        )
        async for rows in result.partitions():
            for row in rows:
                custom = row.custom or {}
                writer.writerow(
                    [*map(_cell, row[: len(EXPORT_COLUMNS)]), *(_cell(custom.get(k)) for k in keys)]
                )
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()
        await session.rollback()  # read only: nothing to keep


async def first_then_rest(
    first: bytes, rest: AsyncGenerator[bytes, None], campaign_id: UUID
) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    except (SQLAlchemyError, psycopg.Error) as exc:
        log.warning("lead export failed mid-way", campaign_id=str(campaign_id), error=type(exc).__name__)
        raise ExportAborted(f"the export of campaign {campaign_id} failed mid-way") from None
    finally:
        await rest.aclose()  # its session, also when the client goes away
