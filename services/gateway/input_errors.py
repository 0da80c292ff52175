"""A request that does not validate is answered 422 even when the input it echoes cannot be encoded.

FastAPI's own handler echoes each refused value (`input`) in the 422's `detail`. A lone surrogate (JSON's
`"\\ud800"`) is refused by `contracts.text.Text`, but echoing it raised UnicodeEncodeError while rendering
the answer: the client got a 500. Here the echo carries its escape (`\\ud800`) instead.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from contracts.text import json_safe


async def request_validation_failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(exc.errors()))})


def register(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, request_validation_failed)
