"""A campaign's analytics: emails sent per day, the step funnel, and totals, from the read model.

`campaign_days` holds what the projection counted per UTC day (projection/campaign_days.py); the funnel
counts the campaign's listed leads by the highest step sent to them.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.tables import campaign_days, lead_view


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


class CampaignAnalytics(BaseModel):
    campaign_id: UUID
    sent_per_day: list[DaySent] = Field(description="Days with at least one email sent, oldest first (UTC).")
    funnel: list[FunnelStep] = Field(description="Step 1 to the sequence's last step, in order.")
    totals: Totals


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
    return CampaignAnalytics(
        campaign_id=campaign_id,
        sent_per_day=[DaySent(date=day.day, sent=day.sent) for day in days if day.sent > 0],
        funnel=funnel(highest, longest if steps is None else steps),
        totals=Totals(
            sent=sum(day.sent for day in days),
            leads=leads,
            completed=sum(day.completed for day in days),
            bounced=sum(day.bounced for day in days),
            unsubscribed=sum(day.unsubscribed for day in days),
        ),
    )
