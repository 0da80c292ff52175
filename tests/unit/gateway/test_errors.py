"""Every error the API answers has the shape its OpenAPI document declares: the array form for a 422 (also
one a route raises with a plain message), `{"detail": "message"}` for the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Query

from services.gateway import errors
from services.gateway.app import create_app
from services.runtime.settings import Settings


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/refused")
    async def refused() -> None:
        raise HTTPException(422, "`cursor` is not one this API returned.")

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, "No such thing.", headers={"X-Why": "gone"})

    @app.get("/limited")
    async def limited(limit: int = Query(ge=1)) -> None:
        return None

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(_app()), base_url="http://test") as http:
        yield http


async def test_a_plain_422_message_answers_the_array_form_with_the_message_intact(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/refused")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["request"], "msg": "`cursor` is not one this API returned.", "type": "value_error"}
        ]
    }
    errors.InvalidRequest.model_validate(response.json())


async def test_fastapis_own_validation_errors_keep_their_form(client: httpx.AsyncClient) -> None:
    response = await client.get("/limited", params={"limit": 0})
    assert response.status_code == 422
    [issue] = errors.InvalidRequest.model_validate(response.json()).detail
    assert issue.loc == ["query", "limit"]


@pytest.mark.parametrize(("path", "status"), [("/missing", 404), ("/nowhere", 404)])
async def test_other_errors_keep_a_string_detail_and_their_headers(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    errors.Problem.model_validate(response.json())
    if path == "/missing":
        assert response.headers["x-why"] == "gone"


def _gateway_openapi() -> dict[str, Any]:
    # Building the app connects to nothing; the URLs only have to be there.
    settings = Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql+psycopg://nobody@/nothing")
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def test_every_operation_declares_the_schema_of_each_error_it_can_answer() -> None:
    document = _gateway_openapi()
    operations = [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) > 20
    expected = {
        "422": "#/components/schemas/InvalidRequest",
        **{
            code: "#/components/schemas/Problem" for code in ("400", "401", "403", "404", "409", "413", "503")
        },
    }
    for method, path, operation in operations:
        responses = operation["responses"]
        assert {"401", "422", "503"} <= set(responses), (method, path)
        if "requestBody" in operation:  # unreadable, or over the upload limit, before the route runs
            assert {"400", "413"} <= set(responses), (method, path)
        if method != "GET":  # a change by the UI's cookie from another site
            assert "403" in responses, (method, path)
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": expected[code]}, (method, path, code)
