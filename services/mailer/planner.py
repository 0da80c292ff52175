"""Which of a campaign's claimed sends go now, and on which mailbox; when the others may try again. Pure:
the clock and the random draws are passed in, the caller locks the paces and stores the outcome.

Built on `pacing` (daily limits, the gap, rotation) and `contracts.schedule` (the window):

- nothing is reserved while the campaign's window is closed: every send waits for its next opening;
- a send is reserved only while the campaign's daily limit and its mailbox's limit and gap allow it; a
  send that must wait is deferred to the time they allow it (moved to the window's next opening);
- a follow-up keeps to the mailbox that sent its thread while that mailbox is one of the campaign's and
  healthy (it waits for that mailbox's limits); otherwise the campaign's mailboxes take turns;
- a mailbox with a send still under way (and a gap to keep) is not picked: the gap counts from its send;
- an unhealthy mailbox is not picked before its `probe_after`, and then for one probe send at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts.schedule import Schedule
from services.mailer.pacing import (
    Allowed,
    CampaignPace,
    LimitReached,
    MailboxPace,
    NotBefore,
    Pacing,
    after_campaign_send,
    after_send,
    decide,
    decide_campaign,
)

# How soon a mailbox busy with a send is looked at again (its send settles within seconds).
BUSY_RETRY: Final = timedelta(seconds=2)
# How soon a campaign with no usable mailbox is looked at again (a mailbox may be added or fixed).
NO_MAILBOX_RETRY: Final = timedelta(minutes=5)


@dataclass(frozen=True)
class QueuedSend:
    id: UUID
    preferred_mailbox_id: UUID | None = None


@dataclass(frozen=True)
class MailboxState:
    """A mailbox as the planner sees it: its settings, its pace, its health and whether a send of it is
    still under way."""

    id: UUID
    pacing: Pacing
    pace: MailboxPace
    healthy: bool = True
    probe_after: datetime | None = None
    busy: bool = False


@dataclass(frozen=True)
class CampaignState:
    mailbox_ids: tuple[UUID, ...]
    daily_limit: int | None
    schedule: Schedule | None
    pace: CampaignPace
    rotation: int = 0

    @property
    def zone(self) -> tzinfo:
        return UTC if self.schedule is None else ZoneInfo(self.schedule.timezone)


@dataclass(frozen=True)
class Reservation:
    send_id: UUID
    mailbox_id: UUID


@dataclass(frozen=True)
class Deferral:
    send_id: UUID
    not_before: datetime


@dataclass(frozen=True)
class Plan:
    reserved: tuple[Reservation, ...]
    deferred: tuple[Deferral, ...]
    mailboxes: Mapping[UUID, MailboxPace]
    campaign: CampaignPace
    rotation: int


def _opening(campaign: CampaignState, at: datetime) -> datetime:
    return at.astimezone(UTC) if campaign.schedule is None else campaign.schedule.next_open(at)


def _availability(mailbox: MailboxState, now: datetime) -> datetime | None:
    """None when the mailbox may be asked for a send now; else the earliest time it may be."""
    if mailbox.busy:
        return now + BUSY_RETRY
    if not mailbox.healthy and (mailbox.probe_after is None or mailbox.probe_after > now):
        return mailbox.probe_after or now + NO_MAILBOX_RETRY
    return None


def _wait(mailbox: MailboxState, now: datetime) -> datetime | None:
    """None when the mailbox may send now; else when it may."""
    unavailable = _availability(mailbox, now)
    if unavailable is not None:
        return unavailable
    match decide(mailbox.pace, mailbox.pacing, now):
        case Allowed():
            return None
        case NotBefore(time=ready):
            return ready
        case LimitReached(until=until):
            return until
    raise AssertionError("unreachable")  # pragma: no cover


def _choose(
    send: QueuedSend,
    campaign: CampaignState,
    mailboxes: Mapping[UUID, MailboxState],
    rotation: int,
    now: datetime,
) -> tuple[UUID, int] | datetime:
    """The mailbox that sends `send` now and the next rotation, or the earliest time one may."""
    usable = [m for m in campaign.mailbox_ids if m in mailboxes]
    if not usable:
        return now + NO_MAILBOX_RETRY
    preferred = send.preferred_mailbox_id
    if preferred in usable and mailboxes[preferred].healthy:
        wait = _wait(mailboxes[preferred], now)
        return (preferred, rotation) if wait is None else wait
    waits: list[datetime] = []
    for offset in range(len(usable)):
        position = (rotation + offset) % len(usable)
        wait = _wait(mailboxes[usable[position]], now)
        if wait is None:
            return usable[position], (position + 1) % len(usable)
        waits.append(wait)
    return min(waits)


def plan(
    sends: Sequence[QueuedSend],
    mailboxes: Mapping[UUID, MailboxState],
    campaign: CampaignState,
    now: datetime,
    rand: Callable[[], float],
) -> Plan:
    """Reserve what may go at `now`, in the order given; defer the rest (see the module)."""
    states = dict(mailboxes)
    changed: dict[UUID, MailboxPace] = {}
    campaign_pace, rotation = campaign.pace, campaign.rotation
    reserved: list[Reservation] = []
    deferred: list[Deferral] = []
    window_open = campaign.schedule is None or campaign.schedule.is_open(now)
    for send in sends:
        if not window_open:
            deferred.append(Deferral(send.id, _opening(campaign, now)))
            continue
        limit = decide_campaign(campaign_pace, campaign.daily_limit, campaign.zone, now)
        if isinstance(limit, LimitReached):
            deferred.append(Deferral(send.id, _opening(campaign, limit.until)))
            continue
        chosen = _choose(send, campaign, states, rotation, now)
        if isinstance(chosen, datetime):
            deferred.append(Deferral(send.id, _opening(campaign, max(chosen, now))))
            continue
        mailbox_id, rotation = chosen
        state = states[mailbox_id]
        pace = after_send(state.pace, state.pacing, now, rand())
        # A probe of an unhealthy mailbox goes alone; its outcome says whether more may follow.
        states[mailbox_id] = replace(state, pace=pace, busy=state.busy or not state.healthy)
        changed[mailbox_id] = pace
        campaign_pace = after_campaign_send(campaign_pace, campaign.zone, now)
        reserved.append(Reservation(send.id, mailbox_id))
    return Plan(tuple(reserved), tuple(deferred), changed, campaign_pace, rotation)
