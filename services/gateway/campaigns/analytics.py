"""A campaign's analytics: emails sent per day, the step funnel, totals, the answers per day, and the reply
and bounce rates per step and per mailbox, from the read model.

`campaign_days` holds what the projection counted per UTC day (projection/campaign_days.py); the funnel
counts the campaign's listed leads by the highest step sent to them. `campaign_sends` and
`campaign_responses` (projection/campaign_stats.py) hold the sends per step and mailbox and every answer.

Per day, each reply, auto-reply and bounce report counts (two replies of a lead are two messages that
day); an unsubscribe counts once per lead. For the rates, a lead counts once per step: its replies to step
1 are one reply of step 1, its hard bounces (the mailer's at RCPT, then the DSN) one bounce. Answers whose
step (mailbox) is unknown count per day only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Final
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, cast, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.tables import campaign_days, campaign_responses, campaign_sends, lead_view


class DaySent(BaseModel):
    date: dt.date = Field(description="A day (UTC), YYYY-MM-DD.")
    sent: int = Field(description="Emails the campaign sent that day.")


class FunnelStep(BaseModel):
    step: int = Field(description="A step of the sequence, from 1.")
    leads: int = Field(description="Leads of the campaign that reached this step (it was sent to them).")


class Totals(BaseModel):
    sent: int = Field(description="Emails sent, all steps.")
    leads: int = Field(description="Leads in the campaign now.")
    completed: int = Field(description="Leads that completed the sequence (its last step sent).")
    bounced: int = Field(description="Leads whose email hard-bounced.")
    unsubscribed: int = Field(description="Leads that unsubscribed.")


class DayOutcomes(BaseModel):
    date: dt.date = Field(description="A day (UTC), YYYY-MM-DD: the day the inbox (mailer) saw it.")
    replies: int = Field(description="Replies received that day, each message.")
    auto_replies: int = Field(description="Automatic replies (out of office, …) received that day.")
    hard_bounces: int = Field(description="Hard bounces reported that day (the mailer's at RCPT, DSNs).")
    soft_bounces: int = Field(description="Soft bounces reported that day (DSNs).")
    unsubscribes: int = Field(description="Leads that unsubscribed that day (a lead counts once).")


class Rates(BaseModel):
    sent: int = Field(description="Emails sent.")
    replies: int = Field(description="Leads that replied to them, once per lead and step.")
    bounces: int = Field(description="Leads whose email hard-bounced, once per lead and step.")
    reply_rate: float | None = Field(
        description="replies / sent * 100 (a percentage), to one decimal; null when nothing was sent."
    )
    bounce_rate: float | None = Field(
        description="bounces / sent * 100 (a percentage), to one decimal; null when nothing was sent."
    )


class StepRates(Rates):
    step: int = Field(description="A step of the sequence, from 1.")


class MailboxRates(Rates):
    mailbox_id: UUID
    mailbox: str | None = Field(
        description="Its address, as its newest send named it; null if none was counted."
    )


class CampaignAnalytics(BaseModel):
    campaign_id: UUID
    sent_per_day: list[DaySent] = Field(description="Days with at least one email sent, oldest first (UTC).")
    funnel: list[FunnelStep] = Field(description="Step 1 to the sequence's last step, in order.")
    totals: Totals
    outcomes_per_day: list[DayOutcomes] = Field(
        description="Days with at least one reply, auto-reply, bounce or unsubscribe, oldest first (UTC)."
    )
    by_step: list[StepRates] = Field(
        description="Sends, replies and hard bounces of each step, from 1 to the funnel's last step (or the "
        "highest step an answer names)."
    )
    by_mailbox: list[MailboxRates] = Field(
        description="The same per mailbox: every mailbox that sent for the campaign or got an answer, by address."
    )


def rate(part: int, sent: int) -> float | None:
    """`part` of `sent` as a percentage to one decimal (half up), None when nothing was sent: a rate of
    nothing is unknown, not 0%."""
    if sent <= 0:
        return None
    return (part * 2000 + sent) // (2 * sent) / 10


def rates(sent: int, replies: int, bounces: int) -> dict[str, Any]:
    """The fields of a `Rates`."""
    return {
        "sent": sent,
        "replies": replies,
        "bounces": bounces,
        "reply_rate": rate(replies, sent),
        "bounce_rate": rate(bounces, sent),
    }


def funnel(reached_highest: dict[int, int], steps: int) -> list[FunnelStep]:
    """Leads that reached each step 1..`steps` (at least the highest step any lead reached), given how
    many leads' highest step sent is each step: a lead sent step 3 reached steps 1, 2 and 3."""
    last = max([steps, *reached_highest])
    out: list[FunnelStep] = []
    reached = 0
    for step in range(last, 0, -1):
        reached += reached_highest.get(step, 0)
        out.append(FunnelStep(step=step, leads=reached))
    return out[::-1]


# The answers counted per day, by `campaign_responses.kind`, and the field of `DayOutcomes` each is.
OUTCOMES: Final[dict[str, str]] = {
    "reply": "replies",
    "auto_reply": "auto_replies",
    "hard_bounce": "hard_bounces",
    "soft_bounce": "soft_bounces",
    "unsubscribe": "unsubscribes",
}
# The answers the rates count: a reply, a hard bounce.
RATED: Final = ("reply", "hard_bounce")


def outcomes_per_day(counted: Iterable[tuple[dt.date, str, int]]) -> list[DayOutcomes]:
    """The days with an answer, oldest first, from (day, kind, how many) rows; other kinds are left out."""
    days: dict[dt.date, dict[str, int]] = {}
    for day, kind, n in counted:
        if kind in OUTCOMES and n:
            fields = days.setdefault(day, dict.fromkeys(OUTCOMES.values(), 0))
            fields[OUTCOMES[kind]] += n
    return [DayOutcomes(date=day, **days[day]) for day in sorted(days)]


def rates_by_step(
    last: int, sent: Mapping[int, int], replies: Mapping[int, int], bounces: Mapping[int, int]
) -> list[StepRates]:
    """Steps 1 to `last` (or the highest step anything was counted for), each with its rates."""
    last = max([last, *sent, *replies, *bounces])
    return [
        StepRates(step=step, **rates(sent.get(step, 0), replies.get(step, 0), bounces.get(step, 0)))
        for step in range(1, last + 1)
    ]


def rates_by_mailbox(
    addresses: Mapping[UUID, str],
    sent: Mapping[UUID, int],
    replies: Mapping[UUID, int],
    bounces: Mapping[UUID, int],
) -> list[MailboxRates]:
    """Every mailbox counted for, with its rates, by address (those without one last)."""
    ids = sorted(
        {*sent, *replies, *bounces},
        key=lambda mailbox_id: (mailbox_id not in addresses, addresses.get(mailbox_id, ""), str(mailbox_id)),
    )
    return [
        MailboxRates(
            mailbox_id=mailbox_id,
            mailbox=addresses.get(mailbox_id),
            **rates(sent.get(mailbox_id, 0), replies.get(mailbox_id, 0), bounces.get(mailbox_id, 0)),
        )
        for mailbox_id in ids
    ]


async def analytics(
    session: AsyncSession, workspace_id: UUID, campaign_id: UUID, steps: int | None, leads: int
) -> CampaignAnalytics:
    """The campaign's analytics; `steps` is its sequence's length (None: unknown, the longest seen),
    `leads` its number of leads."""
    days = (
        await session.execute(
            select(campaign_days)
            .where(campaign_days.c.campaign_id == campaign_id, campaign_days.c.workspace_id == workspace_id)
            .order_by(campaign_days.c.day)
        )
    ).all()
    by_step = await session.execute(
        select(lead_view.c.step, cast(func.count(), BigInteger), func.max(lead_view.c.total_steps))
        .where(
            lead_view.c.campaign_id == campaign_id,
            lead_view.c.workspace_id == workspace_id,
            lead_view.c.step > 0,
        )
        .group_by(lead_view.c.step)
    )
    highest: dict[int, int] = {}
    longest = 0
    for step, count, total_steps in by_step:
        highest[step] = count
        longest = max(longest, total_steps)
    steps_shown = funnel(highest, longest if steps is None else steps)
    answers = await _answers(session, workspace_id, campaign_id, len(steps_shown))
    return CampaignAnalytics(
        campaign_id=campaign_id,
        sent_per_day=[DaySent(date=day.day, sent=day.sent) for day in days if day.sent > 0],
        funnel=steps_shown,
        totals=Totals(
            sent=sum(day.sent for day in days),
            leads=leads,
            completed=sum(day.completed for day in days),
            bounced=sum(day.bounced for day in days),
            unsubscribed=sum(day.unsubscribed for day in days),
        ),
        **answers,
    )


async def _answers(
    session: AsyncSession, workspace_id: UUID, campaign_id: UUID, steps: int
) -> dict[str, Any]:
    """`outcomes_per_day`, `by_step` and `by_mailbox`, from `campaign_responses` and `campaign_sends`."""
    r = campaign_responses.c
    of_campaign = (r.campaign_id == campaign_id, r.workspace_id == workspace_id)
    per_day = await session.execute(
        select(r.day, r.kind, cast(func.count(), BigInteger))
        .where(*of_campaign, r.kind.in_(OUTCOMES))
        .group_by(r.day, r.kind)
    )
    # Once per lead and step: a step's replies are the leads that replied to it.
    per_step = await session.execute(
        select(r.step, r.kind, cast(func.count(distinct(r.lead_id)), BigInteger))
        .where(*of_campaign, r.kind.in_(RATED), r.step.is_not(None))
        .group_by(r.step, r.kind)
    )
    answered = (
        select(r.mailbox_id, r.kind, r.lead_id, r.step)
        .where(*of_campaign, r.kind.in_(RATED), r.mailbox_id.is_not(None))
        .distinct()
        .subquery()
    )
    per_mailbox = await session.execute(
        select(answered.c.mailbox_id, answered.c.kind, cast(func.count(), BigInteger)).group_by(
            answered.c.mailbox_id, answered.c.kind
        )
    )
    sends = await session.execute(
        select(campaign_sends).where(
            campaign_sends.c.campaign_id == campaign_id, campaign_sends.c.workspace_id == workspace_id
        )
    )
    step_counts: dict[str, dict[int, int]] = {kind: {} for kind in RATED}
    for step, kind, n in per_step:
        step_counts[kind][step] = n
    mailbox_counts: dict[str, dict[UUID, int]] = {kind: {} for kind in RATED}
    for mailbox_id, kind, n in per_mailbox:
        mailbox_counts[kind][mailbox_id] = n
    sent_by_step: dict[int, int] = {}
    sent_by_mailbox: dict[UUID, int] = {}
    newest: dict[UUID, tuple[dt.datetime, str]] = {}
    for row in sends:
        sent_by_step[row.step] = sent_by_step.get(row.step, 0) + row.sent
        sent_by_mailbox[row.mailbox_id] = sent_by_mailbox.get(row.mailbox_id, 0) + row.sent
        if row.mailbox_id not in newest or row.mailbox_at > newest[row.mailbox_id][0]:
            newest[row.mailbox_id] = (row.mailbox_at, row.mailbox)
    return {
        "outcomes_per_day": outcomes_per_day((day, kind, n) for day, kind, n in per_day),
        "by_step": rates_by_step(steps, sent_by_step, step_counts["reply"], step_counts["hard_bounce"]),
        "by_mailbox": rates_by_mailbox(
            {mailbox_id: address for mailbox_id, (_, address) in newest.items()},
            sent_by_mailbox,
            mailbox_counts["reply"],
            mailbox_counts["hard_bounce"],
        ),
    }
