"""The gateway's own states: pure, no I/O."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """A bulk job's state (`gateway.jobs.state`): running until every batch is sent, then completed, or
    failed when a step kept failing."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
