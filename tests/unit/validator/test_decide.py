"""`decide`: what a pass's results come to — the leads done, those queued again, and the events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.validator.domain import Claimed, HoldCause, Requeue, decide
from services.validator.verdicts import Reason, Result, verdict_of

SCHEDULE = (60.0, 300.0)
WAITS = {HoldCause.PROBER: 300.0, HoldCause.DNS: 0.0}
ONE, TWO = uuid.UUID(int=10), uuid.UUID(int=20)


def lead(campaign: uuid.UUID, attempts: int = 0) -> Claimed:
    return Claimed(
        lead_id=uuid.uuid4(),
        workspace_id=uuid.UUID(int=1),
        campaign_id=campaign,
        email=f"{uuid.uuid4().hex[:8]}@firma.cz",
        attempts=attempts,
        run=0,
        token=datetime(2025, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("batch", "done", "again", "events", "held"),
    [
        pytest.param([], [], [], [], 0, id="nothing"),
        pytest.param(
            [(ONE, Reason.ACCEPTED, 0), (ONE, Reason.MAILBOX_NOT_FOUND, 0), (TWO, Reason.CATCH_ALL, 0)],
            [Reason.ACCEPTED, Reason.MAILBOX_NOT_FOUND, Reason.CATCH_ALL],
            [],
            [(ONE, 2), (TWO, 1)],
            0,
            id="verdicts, one event per campaign",
        ),
        pytest.param(
            [(ONE, Reason.GREYLISTED, 0), (ONE, Reason.GREYLISTED, 2), (ONE, Reason.ACCEPTED, 1)],
            [Reason.GREYLISTED, Reason.ACCEPTED],
            [Requeue(1, 60.0)],
            [(ONE, 2)],
            0,
            id="greylisted: retried until the schedule is used up",
        ),
        pytest.param(
            [(ONE, Reason.PROBER_BLOCKED, 1), (TWO, Reason.DNS_UNHEALTHY, 5)],
            [],
            [Requeue(1, 300.0, HoldCause.PROBER), Requeue(5, 0.0, HoldCause.DNS)],
            [],
            2,
            id="held for our own fault: no verdict, no event, attempts kept",
        ),
    ],
)
def test_a_pass_decides_what_to_store_and_emit(
    batch: list[tuple[uuid.UUID, Reason, int]],
    done: list[Reason],
    again: list[Requeue],
    events: list[tuple[uuid.UUID, int]],
    held: int,
) -> None:
    leads = [lead(campaign, attempts) for campaign, _, attempts in batch]
    results = [
        (c, Result(c.email, verdict_of(reason), reason))
        for c, (_, reason, _) in zip(leads, batch, strict=True)
    ]
    decision = decide(results, SCHEDULE, WAITS)
    assert [d.result.reason for d in decision.done] == done
    assert [a.requeue for a in decision.again] == again
    assert [(e.campaign_id, len(e.leads)) for e in decision.events] == events
    assert decision.held == held
    # Every lead is either done or queued again, never both, never lost.
    decided = [d.lead for d in decision.done] + [a.lead for a in decision.again]
    assert sorted(c.lead_id for c in decided) == sorted(c.lead_id for c in leads)
    announced = [v.lead_id for e in decision.events for v in e.leads]
    assert sorted(announced) == sorted(d.lead.lead_id for d in decision.done)
