"""The base of every command: addressed to one workspace, immutable, no field beyond those declared."""

from uuid import UUID

from pydantic import BaseModel, ConfigDict


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    workspace_id: UUID
