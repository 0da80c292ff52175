"""`/u/{token}`: the link in every message's footer and `List-Unsubscribe` header (RFC 8058).

GET only shows a confirmation page: mail scanners and link previews fetch every URL of a message, so a GET
must never unsubscribe. POST (the page's button, or a mail provider's one-click POST whose body is
`List-Unsubscribe=One-Click`) emits LeadUnsubscribed through the outbox, once per lead; the importer then
suppresses the address. No API key or session: the signed token is the authority (services/runtime/
unsubscribe_tokens.py), and the CSRF guard (auth.SessionCookieAuth) covers only /api/ and /ui/session,
so a provider's cookieless POST from anywhere is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse

from contracts import LeadUnsubscribed
from contracts.text import Text
from services.gateway.deps import Session, service_of
from services.gateway.unsubscribe.pages import (
    HEADERS,
    confirmation_page,
    done_page,
    malformed_page,
    unknown_page,
)
from services.gateway.unsubscribe.queries import first_unsubscribe, lead_of_token
from services.runtime.unsubscribe_tokens import BadToken, UnsubscribeTokens

router = APIRouter(include_in_schema=False)


def _tokens(request: Request) -> UnsubscribeTokens:
    tokens: UnsubscribeTokens = request.app.state.unsubscribe_tokens
    return tokens


def _html(page: str, status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    return HTMLResponse(page, status_code=status_code, headers=HEADERS)


@dataclass(frozen=True)
class _Lead:
    workspace_id: UUID
    campaign_id: UUID
    lead_id: UUID
    email: str


async def _verified_lead(request: Request, session: Session, token: str) -> _Lead | HTMLResponse:
    """The lead a genuine token names, or the page refusing the token (nothing changed)."""
    try:
        workspace_id, lead_id = UnsubscribeTokens.read_token(token)
    except BadToken:
        return _html(malformed_page(), status.HTTP_400_BAD_REQUEST)
    lead = await lead_of_token(session, workspace_id, lead_id)
    # An unknown lead and a MAC mismatch answer alike: the page tells a forger nothing about the ids.
    if lead is None or not _tokens(request).verify(token, lead.email):
        return _html(unknown_page(), status.HTTP_404_NOT_FOUND)
    return _Lead(workspace_id, lead.campaign_id, lead_id, lead.email)


@router.get("/u/{token}", response_class=HTMLResponse)
async def confirm_unsubscribe(token: Text, request: Request, session: Session) -> HTMLResponse:
    """The confirmation page; changes nothing."""
    lead = await _verified_lead(request, session, token)
    if isinstance(lead, HTMLResponse):
        return lead
    return _html(confirmation_page(token, lead.email))


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe(token: Text, request: Request, session: Session) -> HTMLResponse:
    """Unsubscribe the lead the token names (its body, a form or `List-Unsubscribe=One-Click`, is not
    needed: the URL says who). A second POST answers the same and emits nothing more."""
    lead = await _verified_lead(request, session, token)
    if isinstance(lead, HTMLResponse):
        return lead
    async with service_of(request).unit_of_work() as uow:
        event_id = uuid4()
        if await first_unsubscribe(uow.session, lead.workspace_id, lead.lead_id, event_id):
            uow.emit(
                LeadUnsubscribed(
                    event_id=event_id,
                    workspace_id=lead.workspace_id,
                    campaign_id=lead.campaign_id,
                    lead_id=lead.lead_id,
                    email=lead.email,
                    source="link",
                )
            )
    return _html(done_page(lead.email))
