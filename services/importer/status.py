"""An import as the reply every import command gives, and the cursor of a campaign's import list. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts import ImportState
from contracts.commands import ImportPage, ImportStatusReply
from services.importer.domain import empty_counts
from services.importer.runner import percent_of
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor


def status_of(job: Any) -> ImportStatusReply:
    """An import's row as the reply every import command gives."""
    completed = job.state == ImportState.COMPLETED
    # A running import never shows 100% before its last chunk is committed.
    percent = 100.0 if completed else min(percent_of(job.rows_done, job.total_rows), 99.99)
    return ImportStatusReply(
        id=job.id,
        campaign_id=job.campaign_id,
        source=job.source,
        filename=job.filename,
        state=ImportState(job.state),
        error=job.error,
        percent=percent,
        rows_done=job.rows_done,
        total_rows=job.total_rows,
        cancel_requested=job.cancel_requested,
        report_object=job.report_object,
        counts={**empty_counts(), **job.counts},
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def page_of(rows: Sequence[Any], limit: int) -> ImportPage:
    """The page from the `limit + 1` imports fetched after the cursor, newest first; a next cursor only
    when the extra one was there."""
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_import_cursor(page[-1].created_at, page[-1].id)
    return ImportPage(items=[status_of(row) for row in page], next_cursor=next_cursor)


def encode_import_cursor(created_at: datetime, import_id: UUID) -> str:
    return encode_cursor([created_at.isoformat(), str(import_id)])


def decode_import_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raises InvalidCursor (a ValueError) for a cursor this API did not hand out."""
    try:
        created_at, import_id = decode_cursor(cursor)
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has a zone")
        return moment, UUID(import_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor from exc
