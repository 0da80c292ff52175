"""The web UI: the single page at `/`, its static assets, and signing in and out with an API key.

Everything the browser needs ships in the gateway's `static/` with the package: no CDN, no build step.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.gateway.auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    close_ui_session,
    cookie_is_secure,
    key_for_credentials,
    open_ui_session,
)
from services.gateway.campaigns.queries import workspace_row
from services.gateway.deps import Session, service_of
from services.gateway.web.schemas import SessionState, SessionWorkspace, SignIn

# The UI's files stay at the gateway's top (services/gateway/static), where the package data names them.
STATIC_DIR = Path(__file__).parent.parent / "static"

# Every asset is the gateway's own; nothing inline, nothing from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

router = APIRouter(include_in_schema=False)


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico on every page that names no icon (the API docs, a report download):
    the same icon the UI links, so no page logs a 404."""
    return FileResponse(
        STATIC_DIR / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/ui/session", response_model=SessionState)
async def session_state(session: Session, request: Request) -> SessionState:
    """Whether the cookie opens a session, and its workspace: always 200, so the page's first request
    leaves no failed-request error in the browser's console when nobody is signed in."""
    token = request.cookies.get(SESSION_COOKIE)
    key = await key_for_credentials(session, "session", token) if token and token.isascii() else None
    if key is None:
        return SessionState(signed_in=False, workspace=None)
    name = (await workspace_row(session, key.workspace_id)).name
    return SessionState(signed_in=True, workspace=SessionWorkspace(id=key.workspace_id, name=name))


@router.post("/ui/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_in(body: SignIn, session: Session, request: Request, response: Response) -> None:
    """Check the key once and open a session: the HttpOnly cookie holds a random token (its hash is
    stored), never the key, and the API accepts it in place of the key until sign-out, the key's
    revocation or 12 hours."""
    key = body.api_key.strip()
    async with session.begin():
        found = await key_for_credentials(session, "bearer", key) if key.isascii() else None
        if found is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "That API key is unknown or revoked.")
        token = await open_ui_session(session, found)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE_SECONDS,
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


@router.delete("/ui/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(session: Session, request: Request, response: Response) -> None:
    """Ends the session on the server too: a copy of the cookie is worth nothing afterwards."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with session.begin():
            await close_ui_session(session, token)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict"
    )


def _secure(request: Request) -> bool:
    return cookie_is_secure(service_of(request).settings.public_url, request.url.scheme)
