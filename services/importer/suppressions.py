"""The workspace suppression list: addresses never to import again (unsubscribed, hard-bounced, manual).

The importer owns it because it is part of deciding which addresses become leads. Entries come from the
API and from the events of the services that learn of unsubscribes and hard bounces.
"""

from __future__ import annotations

import asyncio
import csv
import tempfile
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from email_validator import EmailNotValidError
from nats.js.errors import NotFoundError
from pydantic import TypeAdapter
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import EmailBounced, Event, LeadUnsubscribed, subjects
from contracts.commands import (
    AddSuppression,
    ListSuppressions,
    RejectedSuppressionRow,
    RemoveSuppression,
    Suppression,
    SuppressionPage,
    SuppressionRemoved,
    SuppressionReply,
    SuppressionsUploaded,
    UploadSuppressions,
)
from contracts.replies import Refusal
from services.importer.csv_source import explain
from services.importer.domain import ImportInputError, normalise_email
from services.importer.suppression_file import ListedAddress, read_suppression_file
from services.importer.tables import suppressions
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor
from services.runtime.service import Service
from services.runtime.streams import UPLOADS_BUCKET
from services.runtime.unit_of_work import UnitOfWork


class SuppressionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> SuppressionRepository:
        return cls(session)

    async def add(self, workspace_id: UUID, email: str, key: str, reason: str, source: str) -> Any:
        await self.session.execute(
            insert(suppressions)
            .values(workspace_id=workspace_id, email_key=key, email=email, reason=reason, source=source)
            .on_conflict_do_nothing()
        )
        return (
            await self.session.execute(
                select(suppressions).where(
                    suppressions.c.workspace_id == workspace_id, suppressions.c.email_key == key
                )
            )
        ).one()

    async def add_many(
        self, workspace_id: UUID, addresses: Sequence[ListedAddress], reason: str, source: str
    ) -> int:
        """Add the addresses not on the list yet (one statement per 5,000); returns how many were new."""
        added = 0
        for start in range(0, len(addresses), 5000):
            batch = addresses[start : start + 5000]
            result = await self.session.execute(
                insert(suppressions)
                .values(
                    [
                        {
                            "workspace_id": workspace_id,
                            "email_key": a.key,
                            "email": a.email,
                            "reason": reason,
                            "source": source,
                        }
                        for a in batch
                    ]
                )
                .on_conflict_do_nothing()
                .returning(suppressions.c.email_key)
            )
            added += len(result.all())
        return added

    async def remove(self, workspace_id: UUID, key: str) -> bool:
        result = await self.session.execute(
            delete(suppressions).where(
                suppressions.c.workspace_id == workspace_id, suppressions.c.email_key == key
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def page(
        self, workspace_id: UUID, limit: int, after: str | None, q: str | None
    ) -> tuple[list[Any], int]:
        filters = [suppressions.c.workspace_id == workspace_id]
        if q:
            filters.append(suppressions.c.email_key.contains(q.lower(), autoescape=True))
        total = await self.session.scalar(select(func.count()).select_from(suppressions).where(*filters)) or 0
        if after:
            filters.append(suppressions.c.email_key > after)
        rows = (
            await self.session.execute(
                select(suppressions).where(*filters).order_by(suppressions.c.email_key).limit(limit + 1)
            )
        ).all()
        return list(rows), int(total)


def _out(row: Any) -> Suppression:
    return Suppression(email=row.email, reason=row.reason, source=row.source, created_at=row.created_at)


def _key_of_cursor(cursor: str) -> str:
    """The email key a page ended with; raises InvalidCursor for a cursor that holds none."""
    key = decode_cursor(cursor)
    if not isinstance(key, str) or not key:
        raise InvalidCursor
    return key


def register(service: Service) -> None:
    broker = service.broker

    @broker.subscriber(
        subjects.command_subject("importer", "add_suppression"),
        queue="importer",
        title="importer.add_suppression",
    )
    async def add_suppression(cmd: AddSuppression) -> SuppressionReply | Refusal:
        try:
            normalised = normalise_email(cmd.email)
        except EmailNotValidError as exc:
            return Refusal.invalid(f"{cmd.email!r} is not an email address: {exc}")
        async with service.sessions() as session, session.begin():
            row = await SuppressionRepository.from_session(session).add(
                cmd.workspace_id, normalised.email, normalised.key, cmd.reason or "added by hand", "manual"
            )
        return SuppressionReply(suppression=_out(row))

    @broker.subscriber(
        subjects.command_subject("importer", "remove_suppression"),
        queue="importer",
        title="importer.remove_suppression",
    )
    async def remove_suppression(cmd: RemoveSuppression) -> SuppressionRemoved | Refusal:
        key = _key_for(cmd.email)
        async with service.sessions() as session, session.begin():
            removed = await SuppressionRepository.from_session(session).remove(cmd.workspace_id, key)
        if not removed:
            return Refusal.not_found("That address is not on the suppression list.")
        return SuppressionRemoved()

    @broker.subscriber(
        subjects.command_subject("importer", "list_suppressions"),
        queue="importer",
        title="importer.list_suppressions",
    )
    async def list_suppressions(cmd: ListSuppressions) -> SuppressionPage | Refusal:
        try:
            after = _key_of_cursor(cmd.cursor) if cmd.cursor else None
        except InvalidCursor as exc:
            return Refusal.invalid(str(exc))
        async with service.sessions() as session:
            rows, total = await SuppressionRepository.from_session(session).page(
                cmd.workspace_id, cmd.limit, after, cmd.q
            )
        page = rows[: cmd.limit]
        next_cursor = encode_cursor(page[-1].email_key) if len(rows) > cmd.limit else None
        return SuppressionPage(items=[_out(r) for r in page], total=total, next_cursor=next_cursor)

    @broker.subscriber(
        subjects.command_subject("importer", "upload_suppressions"),
        queue="importer",
        title="importer.upload_suppressions",
        description="Add every address of an uploaded CSV to the suppression list, in one transaction; "
        "every row that is not an address comes back with its reason.",
    )
    async def upload_suppressions(cmd: UploadSuppressions) -> SuppressionsUploaded | Refusal:
        return await add_uploaded(service, cmd)

    service.consume("lead_unsubscribed", on_suppressing_event, durable="importer-suppress-unsubscribed")
    service.consume("email_bounced", on_suppressing_event, durable="importer-suppress-bounced")


async def add_uploaded(service: Service, cmd: UploadSuppressions) -> SuppressionsUploaded | Refusal:
    store = await service.js.object_store(UPLOADS_BUCKET)
    with tempfile.TemporaryFile() as spool:
        try:
            await store.get(cmd.object_name, writeinto=spool)
        except NotFoundError:
            return Refusal.invalid("The uploaded file is no longer available.")
        spool.seek(0)
        try:
            listed = await asyncio.to_thread(read_suppression_file, spool)
        except (ImportInputError, UnicodeDecodeError, csv.Error) as exc:
            return Refusal.invalid(explain(exc))
    reason = cmd.reason or (f"uploaded list {cmd.filename}" if cmd.filename else "uploaded list")
    async with service.sessions() as session, session.begin():
        added = await SuppressionRepository.from_session(session).add_many(
            cmd.workspace_id, listed.addresses, reason, "manual"
        )
    rejected_object = None
    if listed.rejected:
        rejected_object = f"{cmd.object_name}.rejected.json"
        rows = [RejectedSuppressionRow(row=r.row, value=r.value, reason=r.reason) for r in listed.rejected]
        document = TypeAdapter(list[RejectedSuppressionRow]).dump_json(rows)
        await store.put(rejected_object, document)
    return SuppressionsUploaded(
        added=added,
        already=len(listed.addresses) - added + listed.repeated,
        rejected_count=len(listed.rejected),
        rejected_object=rejected_object,
    )


def _key_for(email: str) -> str:
    try:
        return normalise_email(email).key
    except EmailNotValidError:
        return email.strip().lower()


async def on_suppressing_event(uow: UnitOfWork, event: Event) -> None:
    match event:
        case LeadUnsubscribed():
            reason, source = f"unsubscribed ({event.source})", "unsubscribed"
        case EmailBounced(kind="hard"):
            reason, source = f"hard bounce {event.smtp_code or ''}".strip(), "bounced"
        case _:
            return  # a soft bounce does not suppress
    email = getattr(event, "email", "")
    try:
        normalised = normalise_email(email)
    except EmailNotValidError:
        return
    await SuppressionRepository.from_session(uow.session).add(
        event.workspace_id, normalised.email, normalised.key, reason, source
    )
