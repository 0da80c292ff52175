"""Workspaces and API keys. Keys are shown once and stored as SHA-256 hashes.

A key is 32 random bytes, so a fast hash is enough: there is no dictionary to attack, and a slow KDF
would only add latency to every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.tables import api_keys, workspaces

KEY_PREFIX = "lf_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    workspace_id: UUID
    key_id: UUID
    key: str


async def create_workspace(session: AsyncSession, name: str, key_name: str = "default") -> IssuedKey:
    workspace_id = uuid4()
    await session.execute(workspaces.insert().values(id=workspace_id, name=name))
    return await issue_key(session, workspace_id, key_name)


async def issue_key(session: AsyncSession, workspace_id: UUID, name: str) -> IssuedKey:
    key = new_api_key()
    key_id = uuid4()
    await session.execute(
        api_keys.insert().values(
            id=key_id, workspace_id=workspace_id, name=name, prefix=key[:10], key_hash=hash_api_key(key)
        )
    )
    return IssuedKey(workspace_id, key_id, key)


async def rotate_named_key(session: AsyncSession, workspace_id: UUID, name: str) -> IssuedKey:
    """Revoke the workspace's keys called `name` and issue a fresh one (the dev key of `leadflow up`)."""
    await session.execute(
        update(api_keys)
        .where(
            api_keys.c.workspace_id == workspace_id, api_keys.c.name == name, api_keys.c.revoked_at.is_(None)
        )
        .values(revoked_at=func.now())
    )
    return await issue_key(session, workspace_id, name)


async def workspace_for_key(session: AsyncSession, key: str) -> UUID | None:
    row = (
        await session.execute(
            select(api_keys.c.workspace_id).where(
                api_keys.c.key_hash == hash_api_key(key), api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    return row.workspace_id if row else None


async def workspace_by_name(session: AsyncSession, name: str) -> UUID | None:
    row = (
        await session.execute(
            select(workspaces.c.id)
            .where(workspaces.c.name == name)
            .order_by(workspaces.c.created_at)
            .limit(1)
        )
    ).first()
    return row.id if row else None


# --- the web UI's session cookie -------------------------------------------------------------------------

SESSION_COOKIE = "leadflow_session"
SESSION_MAX_AGE_SECONDS = 12 * 60 * 60
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SessionCookieAuth:
    """Lets the web UI's session cookie stand in for `Authorization: Bearer <key>` on /api/ routes.

    The cookie holds the API key the user signed in with (HttpOnly, SameSite=Strict), so it is checked by
    the very same `current_workspace` as a Bearer key and revoking the key ends the session too. A request
    that sends its own Authorization header is passed on untouched. A cross-origin write is never upgraded
    (belt and braces next to SameSite), so it answers 401.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith("/api/"):
            headers = Headers(scope=scope)
            key = _cookie_value(headers.get("cookie", ""), SESSION_COOKIE)
            if key and "authorization" not in headers and _same_origin_or_safe(scope, headers):
                scope = {
                    **scope,
                    "headers": [*scope["headers"], (b"authorization", f"Bearer {key}".encode("latin-1"))],
                }
        await self.app(scope, receive, send)


def _cookie_value(cookie_header: str, name: str) -> str | None:
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except CookieError:
        return None
    morsel = cookies.get(name)
    if morsel is None or not morsel.value.isascii():
        return None
    return morsel.value


def _same_origin_or_safe(scope: Scope, headers: Headers) -> bool:
    if scope["method"] not in _UNSAFE_METHODS:
        return True
    origin = headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == headers.get("host", "")
