"""What every API route depends on: the service, a database session, the caller's workspace."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.replies import Refusal, RefusalKind, Reply
from services.gateway.auth import ApiKeyRef, key_for_credentials
from services.gateway.errors import CommandRefused
from services.runtime.service import NoAnswer, Service

bearer = HTTPBearer(auto_error=False, description="An API key: `leadflow workspace create NAME` prints one.")


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def db_session(request: Request) -> Any:
    async with service_of(request).sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(db_session)]


async def current_key(
    request: Request,
    session: Session,
    # Declared for the OpenAPI security scheme; the header is read below, as a UI session arrives there too.
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKeyRef:
    """The API key the request acts with: `Authorization: Bearer <key>`, or the web UI's session (its
    cookie arrives as `Authorization: Session <token>`, see auth.SessionCookieAuth)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("bearer", "session") or not credentials.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Send your API key as `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = await key_for_credentials(session, scheme, credentials.strip())
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "That API key is unknown or revoked."
            if scheme.lower() == "bearer"
            else "Your session has ended; sign in again.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


CurrentKey = Annotated[ApiKeyRef, Depends(current_key)]


async def current_workspace(key: CurrentKey) -> UUID:
    return key.workspace_id


Workspace = Annotated[UUID, Depends(current_workspace)]


R = TypeVar("R", bound=Reply)


async def ask(
    service: Service,
    verb: str,
    target: str,
    command: BaseModel,
    reply_type: type[R],
    *,
    reply_within: float | None = None,
) -> R:
    """Request/reply to a service: its reply, or CommandRefused when it refused the command or did not
    answer (`unavailable`, which the caller may retry). errors.py answers CommandRefused with the status
    of its kind, so a route only reads the reply.

    `reply_within` (seconds) shortens the wait for an answer that is only nice to have, so an optional part
    of a response never holds the request for the full `request_timeout_seconds`.
    """
    wait = service.settings.request_timeout_seconds
    if reply_within is not None:
        wait = min(reply_within, wait)
    try:
        answer = await service.ask(target, verb, command, reply_type, within=wait)
    except NoAnswer as exc:
        raise CommandRefused(
            Refusal(
                message=f"The {target} service did not answer; try again shortly.",
                kind=RefusalKind.UNAVAILABLE,
            )
        ) from exc
    if isinstance(answer, Refusal):
        raise CommandRefused(answer)
    return answer
