"""The suppression list's decisions: pure, no I/O.

What an event, a hand-added address or an uploaded list puts on the list, the key an address is removed
by, and how a page of the list ends. The handlers load and store; these say what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError

from contracts import EmailBounced, Event, InboundReclassified, LeadStatus, LeadUnsubscribed
from services.importer.domain import normalise_email
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor


@dataclass(frozen=True)
class NewSuppression:
    """An address to put on a workspace's list (kept as it is if it is there already)."""

    email: str
    key: str
    reason: str
    source: str


@dataclass(frozen=True)
class ListedSuppression:
    """An address on the list, as stored."""

    email: str
    key: str
    reason: str
    source: str
    created_at: datetime


@dataclass(frozen=True)
class NotAnAddress:
    """The refusal of a hand-added entry that is not an email address."""

    message: str


def from_event(event: Event) -> NewSuppression | None:
    """An unsubscribe or a hard bounce suppresses its address; a soft bounce, or an event whose address is
    not one, suppresses nothing."""
    match event:
        case LeadUnsubscribed():
            reason, source = f"unsubscribed ({event.source})", "unsubscribed"
        case EmailBounced(kind="hard"):
            reason, source = f"hard bounce {event.smtp_code or ''}".strip(), "bounced"
        case _:
            return None
    try:
        normalised = normalise_email(getattr(event, "email", ""))
    except EmailNotValidError:
        return None
    return NewSuppression(normalised.email, normalised.key, reason, source)


def lifted_by(event: InboundReclassified) -> str | None:
    """The key of the address whose bounce suppression a person's overturning of a hard bounce lifts (the
    entry is removed only when a bounce put it there: `source` "bounced"); None when it lifts nothing."""
    if event.undoes is not LeadStatus.BOUNCED or not event.email:
        return None
    return key_for(event.email)


def added_by_hand(email: str, reason: str | None) -> NewSuppression | NotAnAddress:
    try:
        normalised = normalise_email(email)
    except EmailNotValidError as exc:
        return NotAnAddress(f"{email!r} is not an email address: {exc}")
    return NewSuppression(normalised.email, normalised.key, reason or "added by hand", "manual")


def upload_reason(reason: str | None, filename: str | None) -> str:
    """The reason an uploaded list's entries get: the one given, else the file's name."""
    return reason or (f"uploaded list {filename}" if filename else "uploaded list")


def key_for(email: str) -> str:
    """The key an address is removed by; text that is not an address is matched as it was stored."""
    try:
        return normalise_email(email).key
    except EmailNotValidError:
        return email.strip().lower()


def key_of_cursor(cursor: str) -> str:
    """The email key a page ended with; raises InvalidCursor for a cursor that holds none."""
    key = decode_cursor(cursor)
    if not isinstance(key, str) or not key:
        raise InvalidCursor
    return key


def one_page(fetched: Sequence[ListedSuppression], limit: int) -> tuple[list[ListedSuppression], str | None]:
    """A page from the `limit + 1` entries fetched after the cursor, and the cursor of the next page
    (None when the extra entry was not there: this is the last page)."""
    page = list(fetched[:limit])
    return page, encode_cursor(page[-1].key) if len(fetched) > limit else None
