"""The suppression list's commands and the events that add to it: load, decide, store in one unit of work.

The importer owns the list because it is part of deciding which addresses become leads. Entries come from
the API and from the events of the services that learn of unsubscribes and hard bounces.
"""

from __future__ import annotations

import asyncio
import csv
import tempfile

from nats.js.errors import NotFoundError
from pydantic import TypeAdapter

from contracts import Event, InboundReclassified
from contracts.commands import (
    AddSuppression,
    CheckSuppressions,
    ListSuppressions,
    RejectedSuppressionRow,
    RemoveSuppression,
    SuppressedEmails,
    Suppression,
    SuppressionPage,
    SuppressionRemoved,
    SuppressionReply,
    SuppressionsUploaded,
    UploadSuppressions,
)
from contracts.replies import Refusal
from services.importer.csv_source import explain
from services.importer.domain import ImportInputError
from services.importer.suppressions.domain import (
    ListedSuppression,
    NotAnAddress,
    added_by_hand,
    from_event,
    key_for,
    key_of_cursor,
    lifted_by,
    one_page,
    upload_reason,
)
from services.importer.suppressions.file import read_suppression_file
from services.importer.suppressions.repository import SuppressionRepository
from services.runtime.cursors import InvalidCursor
from services.runtime.service import Service
from services.runtime.streams import UPLOADS_BUCKET
from services.runtime.unit_of_work import UnitOfWork


async def add_suppression(service: Service, cmd: AddSuppression) -> SuppressionReply | Refusal:
    entry = added_by_hand(cmd.email, cmd.reason)
    if isinstance(entry, NotAnAddress):
        return Refusal.invalid(entry.message)
    async with service.unit_of_work() as uow:
        stored = await SuppressionRepository.from_session(uow.session).add(cmd.workspace_id, entry)
    return SuppressionReply(suppression=_out(stored))


async def remove_suppression(service: Service, cmd: RemoveSuppression) -> SuppressionRemoved | Refusal:
    async with service.unit_of_work() as uow:
        removed = await SuppressionRepository.from_session(uow.session).remove(
            cmd.workspace_id, key_for(cmd.email)
        )
    if not removed:
        return Refusal.not_found("That address is not on the suppression list.")
    return SuppressionRemoved()


async def list_suppressions(service: Service, cmd: ListSuppressions) -> SuppressionPage | Refusal:
    try:
        after = key_of_cursor(cmd.cursor) if cmd.cursor else None
    except InvalidCursor as exc:
        return Refusal.invalid(str(exc))
    async with service.unit_of_work() as uow:
        fetched, total = await SuppressionRepository.from_session(uow.session).page(
            cmd.workspace_id, cmd.limit + 1, after, cmd.q
        )
    page, next_cursor = one_page(fetched, cmd.limit)
    return SuppressionPage(items=[_out(entry) for entry in page], total=total, next_cursor=next_cursor)


async def check_suppressions(service: Service, cmd: CheckSuppressions) -> SuppressedEmails:
    """Which of the addresses are on the list, as they were asked (the mailer asks right before sending)."""
    keys = {email: key_for(email) for email in cmd.emails}
    async with service.sessions() as session:
        found = await SuppressionRepository.from_session(session).suppressed_keys(
            cmd.workspace_id, sorted(set(keys.values()))
        )
    return SuppressedEmails(emails=[email for email, key in keys.items() if key in found])


async def upload_suppressions(service: Service, cmd: UploadSuppressions) -> SuppressionsUploaded | Refusal:
    """Every address of the uploaded list onto the list in one transaction; the rows that are not
    addresses go back to the object store, with their reasons, for the caller to show."""
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
    async with service.unit_of_work() as uow:
        added = await SuppressionRepository.from_session(uow.session).add_many(
            cmd.workspace_id, listed.addresses, upload_reason(cmd.reason, cmd.filename), "manual"
        )
    rejected_object = None
    if listed.rejected:
        rejected_object = f"{cmd.object_name}.rejected.json"
        rows = [RejectedSuppressionRow(row=r.row, value=r.value, reason=r.reason) for r in listed.rejected]
        await store.put(rejected_object, TypeAdapter(list[RejectedSuppressionRow]).dump_json(rows))
    return SuppressionsUploaded(
        added=added,
        already=len(listed.addresses) - added + listed.repeated,
        rejected_count=len(listed.rejected),
        rejected_object=rejected_object,
    )


async def on_suppressing_event(uow: UnitOfWork, event: Event) -> None:
    """`LeadUnsubscribed` and `EmailBounced`: the consumer's unit of work also marks the event handled."""
    entry = from_event(event)
    if entry is not None:
        await SuppressionRepository.from_session(uow.session).add(event.workspace_id, entry)


async def on_reclassified(uow: UnitOfWork, event: InboundReclassified) -> None:
    """A hard bounce overturned in the Unibox: its address leaves the list (only a bounce's entry)."""
    key = lifted_by(event)
    if key is not None:
        await SuppressionRepository.from_session(uow.session).remove_bounced(event.workspace_id, key)


def _out(entry: ListedSuppression) -> Suppression:
    return Suppression(
        email=entry.email, reason=entry.reason, source=entry.source, created_at=entry.created_at
    )
