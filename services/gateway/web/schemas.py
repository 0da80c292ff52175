"""Signing in to the web UI: what the page sends and what it is told."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from contracts.text import Text


class SignIn(BaseModel):
    api_key: Text = Field(min_length=1, max_length=200)


class SessionWorkspace(BaseModel):
    id: UUID
    name: str


class SessionState(BaseModel):
    signed_in: bool
    workspace: SessionWorkspace | None
