"""The adapter that asks the importer, which owns the suppression list, which addresses are suppressed, right
before they are sent (`check_suppressions`). No answer is no answer: the caller sends nothing then."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

from contracts.commands import CheckSuppressions, SuppressedEmails
from contracts.replies import Refusal
from services.mailer.settle import SendRow
from services.runtime.service import NoAnswer, Service
from services.runtime.unsubscribe_tokens import normalise_address

# The importer answers up to this many addresses per command.
PER_REQUEST = 1000


class SuppressionCheck:
    def __init__(self, service: Service, timeout: float = 10.0) -> None:
        self.service = service
        self.timeout = timeout

    async def suppressed(self, rows: Sequence[SendRow]) -> set[UUID]:
        """The ids of the sends whose address is suppressed in their workspace; raises NoAnswer."""
        by_workspace: dict[UUID, set[str]] = defaultdict(set)
        for row in rows:
            by_workspace[row.workspace_id].add(row.email)
        found: set[tuple[UUID, str]] = set()
        for workspace_id, emails in by_workspace.items():
            ordered = sorted(emails)
            for start in range(0, len(ordered), PER_REQUEST):
                answer = await self._ask(workspace_id, ordered[start : start + PER_REQUEST])
                found.update((workspace_id, normalise_address(e)) for e in answer)
        return {r.id for r in rows if (r.workspace_id, normalise_address(r.email)) in found}

    async def _ask(self, workspace_id: UUID, emails: list[str]) -> list[str]:
        """The suppressed ones of `emails`; raises NoAnswer when the importer did not answer, or refused
        (whether the addresses are suppressed is then not known)."""
        command = CheckSuppressions(workspace_id=workspace_id, emails=emails)
        answer = await self.service.ask(
            "importer", "check_suppressions", command, SuppressedEmails, within=self.timeout
        )
        if isinstance(answer, Refusal):
            raise NoAnswer(f"the importer refused check_suppressions: {answer.message}")
        return answer.emails
