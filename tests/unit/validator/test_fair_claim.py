"""How a batch of verifications is shared: round-robin over workspaces, then over their campaigns."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.validator.fair_claim import FairClaim, Queue


def ws(n: int) -> uuid.UUID:
    return uuid.UUID(int=n << 64)


def queue(workspace: int, campaign: int) -> Queue:
    return Queue(ws(workspace), uuid.UUID(int=(workspace << 64) + campaign + 1))


BIG = queue(1, 1)
SMALL = queue(2, 1)


def simulate(demand: Mapping[Queue, int], slots: int, rotation: int = 0) -> dict[Queue, int]:
    """A claim against queues holding `demand` due leads each, as the runner's rounds would take them."""
    plan = FairClaim(list(demand), slots, rotation)
    left = dict(demand)
    rounds = 0
    while shares := plan.next_shares():
        rounds += 1
        assert rounds <= len(demand), "each round drains a queue or fills the batch"
        got = {q: min(n, left[q]) for q, n in shares.items()}
        for q, n in got.items():
            left[q] -= n
        plan.record(got)
    return {q: n for q, n in plan.claimed.items() if n}


@pytest.mark.parametrize(
    ("demand", "slots", "claimed"),
    [
        # The case: a 51-lead campaign behind a 58,793-lead one gets all 51 in the first batch.
        ({BIG: 58_793, SMALL: 51}, 500, {BIG: 449, SMALL: 51}),
        ({BIG: 58_793, SMALL: 800}, 500, {BIG: 250, SMALL: 250}),
        ({BIG: 58_793}, 500, {BIG: 500}),
        ({BIG: 10, SMALL: 20}, 500, {BIG: 10, SMALL: 20}),
        ({}, 500, {}),
        # Workspaces first: one with three campaigns does not get three times the share of another.
        (
            {queue(1, 1): 1000, queue(1, 2): 1000, queue(1, 3): 1000, SMALL: 1000},
            600,
            {queue(1, 1): 100, queue(1, 2): 100, queue(1, 3): 100, SMALL: 300},
        ),
        # A drained campaign's part goes to its workspace's other campaigns before other workspaces.
        (
            {queue(1, 1): 1000, queue(1, 2): 5, SMALL: 1000},
            400,
            {queue(1, 1): 195, queue(1, 2): 5, SMALL: 200},
        ),
        # More queues than slots: one each, as far as they go.
        ({queue(w, 1): 100 for w in range(1, 6)}, 3, {queue(1, 1): 1, queue(2, 1): 1, queue(3, 1): 1}),
    ],
)
def test_batches_are_shared_fairly(demand: dict[Queue, int], slots: int, claimed: dict[Queue, int]) -> None:
    assert simulate(demand, slots) == claimed


def test_the_rotation_serves_every_queue_when_there_are_more_queues_than_slots() -> None:
    demand = {queue(w, 1): 100 for w in range(1, 6)}
    served: set[Queue] = set()
    for rotation in range(5):
        served |= set(simulate(demand, 3, rotation))
    assert served == set(demand)


def test_a_queue_cannot_give_more_than_asked() -> None:
    plan = FairClaim([BIG], 10)
    plan.next_shares()
    with pytest.raises(ValueError, match="more than"):
        plan.record({BIG: 11})


demands = st.dictionaries(
    st.builds(queue, st.integers(1, 4), st.integers(1, 4)), st.integers(0, 300), max_size=10
)


@given(demands, st.integers(0, 600), st.integers(0, 20))
def test_claims_are_max_min_fair_over_workspaces_then_campaigns(
    demand: dict[Queue, int], slots: int, rotation: int
) -> None:
    claimed = simulate(demand, slots, rotation)
    # Nothing beyond the slots or a queue's due leads, and no slot left empty while leads are due.
    assert all(claimed.get(q, 0) <= n for q, n in demand.items())
    assert sum(claimed.values()) == min(slots, sum(demand.values()))

    def per_workspace(counts: Mapping[Queue, int]) -> dict[uuid.UUID, int]:
        totals: dict[uuid.UUID, int] = {}
        for q, n in counts.items():
            totals[q.workspace_id] = totals.get(q.workspace_id, 0) + n
        return totals

    got, wanted = per_workspace(claimed), per_workspace(demand)
    # A workspace gets less than another (by more than the one slot rounding leaves) only when it got
    # everything it had due; the same between the campaigns of one workspace.
    for low in wanted:
        for high in wanted:
            if got.get(low, 0) + 1 < got.get(high, 0):
                assert got.get(low, 0) == wanted[low]
    for small in demand:
        for large in demand:
            if small.workspace_id == large.workspace_id and claimed.get(small, 0) + 1 < claimed.get(large, 0):
                assert claimed.get(small, 0) == demand[small]
