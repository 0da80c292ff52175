"""Workspaces and API keys. Keys are shown once and stored as SHA-256 hashes.

A key is 32 random bytes, so a fast hash is enough: there is no dictionary to attack, and a slow KDF
would only add latency to every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.tables import api_keys, ui_sessions, workspaces

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
    found = await key_for_credentials(session, "bearer", key)
    return found.workspace_id if found else None


@dataclass(frozen=True)
class ApiKeyRef:
    """The (unrevoked) API key a request acts with: given as a Bearer key, or behind a UI session."""

    id: UUID
    workspace_id: UUID
    name: str
    prefix: str

    @property
    def label(self) -> str:
        """Who made a change, as a lead's timeline shows it."""
        return f"{self.name} ({self.prefix}…)"


async def key_for_credentials(session: AsyncSession, scheme: str, credentials: str) -> ApiKeyRef | None:
    """`Bearer <API key>`, or `Session <token>` (the UI's cookie, see SessionCookieAuth)."""
    columns = (api_keys.c.id, api_keys.c.workspace_id, api_keys.c.name, api_keys.c.prefix)
    if scheme.lower() == "bearer":
        query = select(*columns).where(api_keys.c.key_hash == hash_api_key(credentials))
    elif scheme.lower() == "session":
        query = (
            select(*columns)
            .join(ui_sessions, ui_sessions.c.api_key_id == api_keys.c.id)
            .where(
                ui_sessions.c.token_hash == hash_api_key(credentials), ui_sessions.c.expires_at > func.now()
            )
        )
    else:
        return None
    row = (await session.execute(query.where(api_keys.c.revoked_at.is_(None)))).first()
    return ApiKeyRef(row.id, row.workspace_id, row.name, row.prefix) if row else None


async def open_ui_session(session: AsyncSession, key: ApiKeyRef) -> str:
    """A new sign-in: its token (for the cookie; only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    await session.execute(
        ui_sessions.insert().values(
            token_hash=hash_api_key(token),
            api_key_id=key.id,
            expires_at=func.now() + timedelta(seconds=SESSION_MAX_AGE_SECONDS),
        )
    )
    return token


async def close_ui_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(ui_sessions).where(ui_sessions.c.token_hash == hash_api_key(token)))


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


SESSION_COOKIE = "leadflow_session"
SESSION_MAX_AGE_SECONDS = 12 * 60 * 60
SESSION_PATH = "/ui/session"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

MISSING_ORIGIN = (
    "This request changes data with the session cookie but carries no Origin header, so it cannot be told "
    "from a request forged by another site. Send it from the Leadflow page, or use an API key in the "
    "Authorization header."
)
FOREIGN_ORIGIN = (
    "This request changes data with the session cookie but comes from another origin ({origin}); only "
    "pages of {expected} may. Use an API key in the Authorization header for other clients."
)


@dataclass(frozen=True)
class Origin:
    """A web origin: scheme, host and port, compared exactly (RFC 6454)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Origin | None:
        """The origin of an absolute http(s) URL, or of an `Origin` header; None for anything else (`null`,
        a relative URL, another scheme, a bad port)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        return cls(scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme])

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = _DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}" if default else f"{self.scheme}://{host}:{self.port}"


def request_origin(scheme: str, host_header: str | None) -> Origin | None:
    """The origin a request was sent to: its scheme and its Host header."""
    return Origin.parse(f"{scheme}://{host_header}") if host_header else None


def cookie_is_secure(public_url: str | None, request_scheme: str) -> bool:
    """The session cookie is `Secure` when the public URL is https (behind a TLS proxy the gateway itself
    may see plain http), or when the request itself came over https."""
    public = Origin.parse(public_url) if public_url else None
    return request_scheme == "https" or (public is not None and public.scheme == "https")


def origin_refusal(origin_header: str | None, expected: Origin | None) -> str | None:
    """Why a cookie-authenticated state change is refused (None when its `Origin` is `expected`)."""
    if origin_header is None:
        return MISSING_ORIGIN
    origin = Origin.parse(origin_header)
    if expected is None or origin != expected:
        return FOREIGN_ORIGIN.format(origin=origin_header[:200], expected=expected or "this server")
    return None


class SessionCookieAuth:
    """Lets the web UI's session cookie stand in for `Authorization: Bearer <key>` on /api/ routes, and
    guards every state change the cookie could be abused for against cross-site request forgery.

    The cookie (HttpOnly, SameSite=Strict) holds a random session token, never the API key; this passes it
    on as `Authorization: Session <token>`, which `current_workspace` resolves through `ui_sessions` to the
    key it was opened with (revoking the key, signing out or 12 hours end it). A request that sends its own
    Authorization header is passed on untouched.

    An unsafe request (POST, PUT, PATCH, DELETE) that the cookie would authenticate, and signing in or out
    (`/ui/session`), must carry an `Origin` equal in scheme, host and port to the gateway's public URL
    (`LEADFLOW_PUBLIC_URL`) or, when that is not set, to the origin the request was sent to; otherwise it
    is answered 403 (belt and braces next to SameSite, which older browsers and same-site subdomains do
    not honour). Browsers send `Origin` with every such request.
    """

    def __init__(self, app: ASGIApp, public_url: str | None = None) -> None:
        self.app = app
        self.public_origin = Origin.parse(public_url) if public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        headers = Headers(scope=scope)
        token = _cookie_value(headers.get("cookie", ""), SESSION_COOKIE)
        by_cookie = path.startswith("/api/") and bool(token) and "authorization" not in headers
        guarded = by_cookie or path == SESSION_PATH
        if guarded and scope["method"] in _UNSAFE_METHODS:
            expected = self.public_origin or request_origin(
                str(scope.get("scheme", "http")), headers.get("host")
            )
            refusal = origin_refusal(headers.get("origin"), expected)
            if refusal is not None:
                response = JSONResponse({"detail": refusal}, status_code=403)
                await response(scope, receive, send)
                return
        if by_cookie:
            scope = {
                **scope,
                "headers": [*scope["headers"], (b"authorization", f"Session {token}".encode("latin-1"))],
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
