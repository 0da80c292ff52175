"""Imports as the API answers them: an import's state and progress, a page of them, a preview."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.commands import PREVIEW_ROWS, ImportStatusReply


class ImportOut(BaseModel):
    id: UUID
    campaign_id: UUID
    source: str | None = None
    state: str
    error: str | None = None
    percent: float
    rows_done: int
    total_rows: int | None = None
    counts: dict[str, int]
    cancel_requested: bool = False
    filename: str | None = None
    report_url: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


def import_out(reply: ImportStatusReply) -> ImportOut:
    return ImportOut(
        id=reply.id,
        campaign_id=reply.campaign_id,
        source=reply.source,
        state=reply.state,
        error=reply.error,
        percent=reply.percent,
        rows_done=reply.rows_done,
        total_rows=reply.total_rows,
        counts=reply.counts,
        cancel_requested=reply.cancel_requested,
        filename=reply.filename,
        report_url=f"/api/v1/imports/{reply.id}/report.csv" if reply.report_object else None,
        created_at=reply.created_at,
        finished_at=reply.finished_at,
    )


class ImportHistory(BaseModel):
    items: list[ImportOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class PreviewOut(BaseModel):
    encoding: str = Field(description="Python codec name: utf-8, utf-8-sig, utf-16, cp1250, iso8859-2")
    delimiter: str
    headers: list[str]
    rows: list[list[str]] = Field(description=f"The first {PREVIEW_ROWS} data rows, aligned with `headers`")
    suggested_mapping: dict[str, str] = Field(description="Our field name → the header that holds it")
