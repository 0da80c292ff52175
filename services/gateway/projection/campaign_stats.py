"""What a campaign's analytics count besides the day counts: the emails sent per step and mailbox
(`campaign_sends`) and every answer to them (`campaign_responses`): replies, auto-replies, bounces, and the
leads that unsubscribed.

An answer is a row of its own, not a counter, for two reasons. A reply is counted once per lead and step
for the reply rate (a lead writing twice to step 1 replied once), which a counter cannot know; and a person
may overturn the inbox's decision on a message in the Unibox (InboundReclassified, with the new kind's
event beside it), which must move the message from one count to another. So each inbound message is one
row, keyed by the inbox's id of it (a mailer's bounce at RCPT, which has none, by its event id): the kind
is the newest fact's (by event time), its step and mailbox the newest ones known, its day the first one.
A lead's unsubscribes are one row, keyed by the lead: the lead unsubscribed once, on the first day.

Rows are upserted, so an event applied twice changes nothing; the send counters, like `campaign_days`,
count each EmailSent as the projection applies it once (the consumer's `first_time`). Both are written
only for the events applied to a listed lead, as the day counts are: an event about a removed lead adds
nothing, and one parked until its lead is listed adds its part when it is applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Final, Literal
from uuid import UUID

from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import (
    AutoReplyDetected,
    EmailBounced,
    EmailSent,
    Event,
    InboundReclassified,
    LeadUnsubscribed,
    ReplyDetected,
)
from services.gateway.projection.sending import utc_day
from services.gateway.tables import campaign_responses, campaign_sends

ResponseKind = Literal["reply", "auto_reply", "hard_bounce", "soft_bounce", "unsubscribe", "other"]
# The kind a reclassified message counts as: what the inbox emits for the new kind (a challenge is an
# automatic answer, services/inbox/effects.py); `delayed` emits nothing and counts nowhere.
_RECLASSIFIED: Final[dict[str, ResponseKind]] = {
    "reply": "reply",
    "auto_reply": "auto_reply",
    "challenge": "auto_reply",
    "hard_bounce": "hard_bounce",
    "soft_bounce": "soft_bounce",
}


@dataclass(frozen=True, slots=True)
class Response:
    """One `campaign_responses` row as one event states it."""

    campaign_id: UUID
    response_id: UUID
    workspace_id: UUID
    lead_id: UUID
    kind: ResponseKind
    step: int | None
    mailbox_id: UUID | None
    day: date
    as_of: datetime


def response_of(event: Event) -> Response | None:
    """The answer the event states, if it is one (an unsubscribe's step and mailbox are unknown)."""
    match event:
        case ReplyDetected() | AutoReplyDetected():
            kind: ResponseKind = "reply" if isinstance(event, ReplyDetected) else "auto_reply"
            return _response(event, event.inbox_message_id, kind, event.step, event.mailbox_id)
        case EmailBounced():
            kind = "hard_bounce" if event.kind == "hard" else "soft_bounce"
            return _response(event, event.inbox_message_id, kind, event.step, event.mailbox_id)
        case InboundReclassified():
            return _response(event, event.inbox_message_id, _RECLASSIFIED.get(event.to_kind, "other"))
        case LeadUnsubscribed():
            return _response(event, event.lead_id, "unsubscribe")
        case _:
            return None


def _response(
    event: EmailBounced | ReplyDetected | AutoReplyDetected | InboundReclassified | LeadUnsubscribed,
    response_id: UUID | None,
    kind: ResponseKind,
    step: int | None = None,
    mailbox_id: UUID | None = None,
) -> Response:
    return Response(
        campaign_id=event.campaign_id,
        response_id=event.event_id if response_id is None else response_id,
        workspace_id=event.workspace_id,
        lead_id=event.lead_id,
        kind=kind,
        step=step,
        mailbox_id=mailbox_id,
        day=utc_day(event.occurred_at),
        as_of=event.occurred_at,
    )


def combined(known: Response, new: Response) -> Response:
    """One answer stated twice (`new` applied after `known`): the newer fact's kind (the one applied later
    on a tie), the newer step and mailbox unless it knows none, the first day. The upsert in
    `record_campaign_stats` says the same in SQL."""
    older, newer = (known, new) if known.as_of <= new.as_of else (new, known)
    return replace(
        newer,
        step=older.step if newer.step is None else newer.step,
        mailbox_id=older.mailbox_id if newer.mailbox_id is None else newer.mailbox_id,
        day=min(known.day, new.day),
    )


def responses_of(events: Iterable[Event]) -> list[Response]:
    """The answers the events state, one per (campaign, response id), combined in event order, sorted by
    key (one lock order for every projection replica)."""
    found: dict[tuple[UUID, UUID], Response] = {}
    for event in events:
        if (response := response_of(event)) is None:
            continue
        key = (response.campaign_id, response.response_id)
        found[key] = response if key not in found else combined(found[key], response)
    return [found[key] for key in sorted(found)]


SendKey = tuple[UUID, int, UUID]  # campaign, step, mailbox


@dataclass(frozen=True, slots=True)
class Sends:
    workspace_id: UUID
    mailbox: str
    mailbox_at: datetime
    sent: int


def sends_of(events: Iterable[Event]) -> dict[SendKey, Sends]:
    """The emails the events send, per (campaign, step, mailbox), with the address the newest one named."""
    found: dict[SendKey, Sends] = {}
    for event in events:
        if not isinstance(event, EmailSent):
            continue
        key = (event.campaign_id, event.step, event.mailbox_id)
        known = found.get(key)
        if known is None:
            found[key] = Sends(event.workspace_id, event.mailbox, event.occurred_at, 1)
        elif event.occurred_at >= known.mailbox_at:
            found[key] = Sends(known.workspace_id, event.mailbox, event.occurred_at, known.sent + 1)
        else:
            found[key] = replace(known, sent=known.sent + 1)
    return found


async def record_campaign_stats(session: AsyncSession, events: Iterable[Event]) -> None:
    """Count the applied events' sends and record their answers (see the module)."""
    events = list(events)
    if sends := sends_of(events):
        await _count_sends(session, sends)
    if responses := responses_of(events):
        await _record_responses(session, responses)


async def _count_sends(session: AsyncSession, sends: dict[SendKey, Sends]) -> None:
    rows = [
        {
            "campaign_id": campaign_id,
            "step": step,
            "mailbox_id": mailbox_id,
            "workspace_id": found.workspace_id,
            "mailbox": found.mailbox,
            "mailbox_at": found.mailbox_at,
            "sent": found.sent,
        }
        for (campaign_id, step, mailbox_id), found in sorted(sends.items(), key=lambda item: item[0])
    ]
    statement = insert(campaign_sends).values(rows)
    stored, new = campaign_sends.c, statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[stored.campaign_id, stored.step, stored.mailbox_id],
            set_={
                "sent": stored.sent + new.sent,
                "mailbox": case((new.mailbox_at >= stored.mailbox_at, new.mailbox), else_=stored.mailbox),
                "mailbox_at": func.greatest(stored.mailbox_at, new.mailbox_at),
            },
        )
    )


async def _record_responses(session: AsyncSession, responses: list[Response]) -> None:
    """Upsert the answers as `combined` says: the row stored is `known`, the one inserted `new`."""
    statement = insert(campaign_responses).values(
        [
            {
                "campaign_id": r.campaign_id,
                "response_id": r.response_id,
                "workspace_id": r.workspace_id,
                "lead_id": r.lead_id,
                "kind": r.kind,
                "step": r.step,
                "mailbox_id": r.mailbox_id,
                "day": r.day,
                "as_of": r.as_of,
            }
            for r in responses
        ]
    )
    stored, new = campaign_responses.c, statement.excluded
    newer = new.as_of >= stored.as_of
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[stored.campaign_id, stored.response_id],
            set_={
                "kind": case((newer, new.kind), else_=stored.kind),
                "step": case(
                    (newer, func.coalesce(new.step, stored.step)), else_=func.coalesce(stored.step, new.step)
                ),
                "mailbox_id": case(
                    (newer, func.coalesce(new.mailbox_id, stored.mailbox_id)),
                    else_=func.coalesce(stored.mailbox_id, new.mailbox_id),
                ),
                "day": func.least(stored.day, new.day),
                "as_of": func.greatest(stored.as_of, new.as_of),
            },
        )
    )
