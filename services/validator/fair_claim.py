"""How a batch of verifications is shared between workspaces and campaigns: the fair claim. No I/O."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Queue:
    """One campaign's queued leads: the unit the fair claim shares a batch over."""

    workspace_id: uuid.UUID
    campaign_id: uuid.UUID


def _split(slots: int, ways: int, rotation: int) -> list[int]:
    """`slots` in `ways` near-equal parts; the larger ones from position `rotation` on, wrapping."""
    base, extra = divmod(slots, ways)
    return [base + (1 if (i - rotation) % ways < extra else 0) for i in range(ways)]


class FairClaim:
    """How many leads to claim from each queue, in rounds, so that a batch is shared round-robin: equally
    over the workspaces with due leads, and a workspace's part equally over its campaigns (max-min fair:
    what one cannot use goes to the others, first to its own workspace's).

    How many leads a queue has due is unknown until it is asked for them (counting would cost what
    claiming does), so every queue is first asked for an equal share; one that gives fewer is drained,
    and the next round shares what is left over the others. Each round drains a queue or fills the
    batch. Parts that do not divide evenly go to the queues from position `rotation` on, so successive
    claims with a growing rotation serve every queue even when there are more queues than slots.
    """

    def __init__(self, queues: Collection[Queue], slots: int, rotation: int = 0) -> None:
        self._by_workspace: dict[uuid.UUID, list[Queue]] = {}
        for queue in sorted(set(queues)):
            self._by_workspace.setdefault(queue.workspace_id, []).append(queue)
        self._live = set(queues)
        self._slots = slots
        self._rotation = rotation
        self._asked: dict[Queue, int] = {}
        self.claimed: Counter[Queue] = Counter()

    def next_shares(self) -> dict[Queue, int]:
        """The next round's shares; empty when the batch is full or every queue is drained."""
        left = self._slots - sum(self.claimed.values())
        self._asked = {}
        if left <= 0 or not self._live:
            return {}
        live = [w for w, queues in self._by_workspace.items() if any(q in self._live for q in queues)]
        settled = sum(
            self.claimed[q] for w, queues in self._by_workspace.items() if w not in live for q in queues
        )
        wanted: dict[Queue, int] = {}
        for workspace, part in zip(
            live, _split(self._slots - settled, len(live), self._rotation), strict=True
        ):
            queues = self._by_workspace[workspace]
            open_queues = [q for q in queues if q in self._live]
            drained = sum(self.claimed[q] for q in queues if q not in self._live)
            targets = _split(part - drained, len(open_queues), self._rotation)
            for queue, target in zip(open_queues, targets, strict=True):
                if target > self.claimed[queue]:
                    wanted[queue] = target - self.claimed[queue]
        # Rounding can leave a queue a slot above its new target; never ask for more than is left.
        for queue in reversed(list(wanted)):
            excess = sum(wanted.values()) - left
            if excess <= 0:
                break
            wanted[queue] -= min(excess, wanted[queue])
        self._asked = {q: n for q, n in wanted.items() if n > 0}
        return self._asked

    def record(self, got: Mapping[Queue, int]) -> None:
        """What the round's claim took from each queue it asked."""
        for queue, asked in self._asked.items():
            taken = got.get(queue, 0)
            if taken > asked:
                raise ValueError(f"{queue} gave {taken} leads, more than the {asked} asked for")
            self.claimed[queue] += taken
            if taken < asked:
                self._live.discard(queue)
        self._asked = {}
