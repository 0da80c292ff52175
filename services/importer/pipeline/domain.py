"""The pipeline's decisions: pure, no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from email_validator import EmailNotValidError
from pydantic import ValidationError

from contracts.commands import PipelineFilter, PipelineItemError, PipelineLeadIn, StoredPipelineLead
from services.importer.directory.labels import filter_label
from services.importer.domain import ImportInputError, normalise_email


class PreparedLeads:
    """A create request checked item by item: the rows to upsert, and the errors by index.

    Within one request a later item with the same address wins, as it would in a later request, so every
    item of an address reports the same lead. `new_id` gives each row the id it gets if it is new.
    """

    def __init__(
        self,
        workspace_id: UUID,
        items: Sequence[tuple[int, PipelineLeadIn]],
        new_id: Callable[[], UUID] = uuid.uuid4,
    ) -> None:
        self.errors: list[PipelineItemError] = []
        self.rows: dict[str, dict[str, Any]] = {}  # email key, or the new id of a lead without an address
        self.indexes: dict[str, list[int]] = {}
        for index, lead in items:
            if not (lead.email or lead.first_name or lead.last_name or lead.company_name):
                self.errors.append(
                    PipelineItemError(index=index, error="a lead needs an email, a name or a company name")
                )
                continue
            email = key = None
            if lead.email:
                try:
                    normalised = normalise_email(lead.email)
                except EmailNotValidError as exc:
                    self.errors.append(
                        PipelineItemError(
                            index=index, error=f"email {lead.email!r} is not an email address: {exc}"
                        )
                    )
                    continue
                email, key = normalised.email, normalised.key
            slot = key or str(new_id())
            self.rows[slot] = {
                **lead.model_dump(),
                "id": UUID(slot) if key is None else new_id(),
                "workspace_id": workspace_id,
                "email": email,
                "email_key": key,
            }
            self.indexes.setdefault(slot, []).append(index)

    def stored(self, upserted: Iterable[tuple[UUID, str | None, bool]]) -> list[StoredPipelineLead]:
        """What each item came to, in item order, from the upserted rows (id, email key, created): every
        item of an address reports its lead, and only the first of them as created."""
        stored: list[StoredPipelineLead] = []
        for lead_id, email_key, created in upserted:
            slot = email_key or str(lead_id)
            for position, index in enumerate(self.indexes[slot]):
                stored.append(StoredPipelineLead(index=index, id=lead_id, created=created and position == 0))
        return sorted(stored, key=lambda s: s.index)


def pipeline_label(ids: Sequence[UUID] | None, f: PipelineFilter | None) -> str:
    """The name an import from the pipeline is listed by."""
    if ids is not None:
        return f"Pipeline: {len(ids):,} selected lead{'s' if len(ids) != 1 else ''}"
    f = f or PipelineFilter()
    return filter_label("Pipeline", [f.city, f.industry, f.stage], f, "all leads")


def import_params(ids: Sequence[UUID] | None, f: PipelineFilter | None) -> dict[str, Any]:
    """What an import stores of its selection: the chosen ids, else the filter (no filter: every lead)."""
    if ids is not None:
        return {"ids": [str(i) for i in ids]}
    return {"filter": (f or PipelineFilter()).model_dump(mode="json")}


def selection_of(params: dict[str, Any]) -> list[UUID] | PipelineFilter:
    """An import's stored selection read back; raises ImportInputError for one that is not valid."""
    try:
        if "ids" in params:
            return [UUID(str(i)) for i in params["ids"]]
        return PipelineFilter.model_validate(params.get("filter", {}))
    except (ValidationError, ValueError, TypeError) as exc:
        raise ImportInputError(f"The pipeline selection of this import is not valid: {exc}") from exc
