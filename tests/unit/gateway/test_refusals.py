"""A command a service refused is answered by the one handler, with the status and body of its kind; no
route checks a reply for an error by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts.replies import Refusal, RefusalKind
from services.gateway import errors
from services.gateway.errors import CommandRefused

# kind → (status, body) as the API answered each refusal before refusals were typed.
ANSWERS: dict[RefusalKind, tuple[int, dict[str, Any]]] = {
    RefusalKind.NOT_FOUND: (404, {"detail": "No such import."}),
    RefusalKind.INVALID: (
        422,
        {"detail": [{"loc": ["request"], "msg": "No such import.", "type": "value_error"}]},
    ),
    RefusalKind.CONFLICT: (409, {"detail": "No such import."}),
    RefusalKind.UNAVAILABLE: (503, {"detail": "No such import."}),
    RefusalKind.INTERNAL: (500, {"detail": "No such import."}),
}


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/refused/{kind}")
    async def refused(kind: RefusalKind) -> None:
        raise CommandRefused(Refusal(message="No such import.", kind=kind))

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(_app()), base_url="http://test") as http:
        yield http


def test_every_kind_has_its_answer() -> None:
    assert set(ANSWERS) == set(RefusalKind)


@pytest.mark.parametrize("kind", list(RefusalKind), ids=str)
async def test_a_refusal_is_answered_with_the_status_and_body_of_its_kind(
    client: httpx.AsyncClient, kind: RefusalKind
) -> None:
    status, body = ANSWERS[kind]
    assert errors.refusal_status(kind) == status
    response = await client.get(f"/refused/{kind.value}")
    assert (response.status_code, response.json()) == (status, body)
    if status == 422:
        errors.InvalidRequest.model_validate(response.json())
    else:
        errors.Problem.model_validate(response.json())
