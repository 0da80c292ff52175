"""The two shapes of an error the API answers, as declared in the OpenAPI document and as sent.

A 422 always has FastAPI's array form, `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`, whether
FastAPI's own validation refused the request or a route raised `HTTPException(422, "message")`; every other
error is `{"detail": "message"}`. `install` puts the handlers on the app: the one that converts the plain
422s, and the one that answers a command a service refused (`CommandRefused`, raised by `deps.ask`) with
the status of its kind. The `*_RESPONSES` and helpers below are what routes declare, so the schema says
what the handlers send.
"""

from __future__ import annotations

from typing import Any, assert_never

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.replies import Refusal, RefusalKind

# Where a refusal raised by a route's own checks points: the request as a whole (the message names the
# parameter). FastAPI's own validation errors name theirs, e.g. ["query", "limit"].
REQUEST_LOC = "request"


class Problem(BaseModel):
    """Every error but 422."""

    detail: str = Field(description="What went wrong, written for a person.")


class InvalidField(BaseModel):
    """One reason a request was refused (FastAPI's `ValidationError`; it may carry `input` and `ctx` too)."""

    loc: list[str | int] = Field(description='Where: e.g. ["query", "limit"], or ["request"] for the whole')
    msg: str = Field(description="What is wrong, written for a person.")
    type: str = Field(description="A machine-readable kind, e.g. `value_error` or `missing`.")


class InvalidRequest(BaseModel):
    """A 422: every reason the request was refused."""

    detail: list[InvalidField]


def invalid_request_body(message: str) -> dict[str, Any]:
    """The 422 body for a message, as the handler sends it."""
    return {"detail": [{"loc": [REQUEST_LOC], "msg": message, "type": "value_error"}]}


class CommandRefused(Exception):
    """A service answered a command with a refusal, or did not answer it (`unavailable`)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal

    @property
    def kind(self) -> RefusalKind:
        return self.refusal.kind


def refusal_status(kind: RefusalKind) -> int:
    """The HTTP status of a refusal: `not_found` is 404 also for another workspace's ids, so an id of
    another workspace cannot be told from one that does not exist."""
    match kind:
        case RefusalKind.NOT_FOUND:
            return 404
        case RefusalKind.INVALID:
            return 422
        case RefusalKind.CONFLICT:
            return 409
        case RefusalKind.UNAVAILABLE:
            return 503
        case RefusalKind.INTERNAL:
            return 500
        case _:
            assert_never(kind)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 422 and isinstance(exc.detail, str):
        return JSONResponse(invalid_request_body(exc.detail), status_code=422, headers=exc.headers)
    return await http_exception_handler(request, exc)


async def _command_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CommandRefused)
    # The service's sentence as it is: for `internal` it tells nothing of the failure, which it has logged.
    return await _http_error(request, StarletteHTTPException(refusal_status(exc.kind), exc.refusal.message))


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(CommandRefused, _command_refused)


def problem(description: str) -> dict[str, Any]:
    """A declared error response other than 422: `{"detail": "message"}`."""
    return {"model": Problem, "description": description}


def invalid(description: str) -> dict[str, Any]:
    """A declared 422 with its own description (replacing the router's, so it must carry the model)."""
    return {"model": InvalidRequest, "description": description}


# Every /api/v1 operation can answer these: all need an API key, all validate their input, and all read
# the database or ask a service that may be down for a moment.
API_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: problem("No API key, or one that is unknown or revoked (`WWW-Authenticate: Bearer`)."),
    422: invalid("The request is not valid; `detail` lists each problem."),
    503: problem("A service or the database did not answer in time; retry shortly."),
}
# Every change (POST, DELETE) made with the web UI's session cookie must come from this site (auth.py).
CROSS_SITE: dict[int | str, dict[str, Any]] = {
    403: problem("Sent with the web UI's session cookie, but not from this site's pages (its `Origin`).")
}
# What an operation with a body can answer before it runs: a body that cannot be parsed (JSON that is not
# UTF-8, broken multipart framing), one from another site, and (JSON) one over the limit (upload_limit.py).
MULTIPART_BODY: dict[int | str, dict[str, Any]] = {
    **CROSS_SITE,
    400: problem(
        "The body cannot be read: JSON that is not UTF-8, or multipart data that is not well-formed."
    ),
}
JSON_BODY: dict[int | str, dict[str, Any]] = {
    **MULTIPART_BODY,
    413: problem("The body is larger than `LEADFLOW_IMPORT_MAX_BYTES` (200 MB by default)."),
}
NO_SUCH_CAMPAIGN: dict[int | str, dict[str, Any]] = {404: problem("No such campaign in this workspace.")}
NO_SUCH_IMPORT: dict[int | str, dict[str, Any]] = {404: problem("No such import in this workspace.")}
