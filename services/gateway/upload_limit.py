"""Refuses an upload larger than the configured limit while it arrives, not after it has been stored.

FastAPI parses a multipart body completely (spooling files to disk) before a route runs, so a route can
only refuse an oversized file after the disk space is spent. This middleware answers 413 as soon as the
declared size (`Content-Length`) or, for a body sent without one (`Transfer-Encoding: chunked`), the size
received so far passes the limit of the route.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Multipart framing (boundaries, part headers, the mapping field) on top of the file itself.
FRAMING_ALLOWANCE = 64 * 1024


def too_large(max_bytes: int) -> str:
    return f"The upload is larger than the limit of {max_bytes:,} bytes."


class UploadLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, by_path: Mapping[str, int] | None = None) -> None:
        """`max_bytes` for every request body, or the limit `by_path` gives for a path of its own."""
        self.app = app
        self.max_bytes = max_bytes
        self.by_path = dict(by_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        max_bytes = self.by_path.get(scope["path"], self.max_bytes)
        allowed = max_bytes + FRAMING_ALLOWANCE
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > allowed:
            await self._refuse(send, max_bytes)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > allowed:
                    # Raised where the body is read: inside the app, whose handler answers it. FastAPI
                    # passes an HTTPException on from its body parsing; anything else it would turn into a
                    # 400 "There was an error parsing the body".
                    raise HTTPException(413, too_large(max_bytes))
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        body = json.dumps({"detail": too_large(max_bytes)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
