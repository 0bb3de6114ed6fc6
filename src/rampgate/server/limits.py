"""Refuse oversized request bodies with 413 before reading them into memory."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    """ASGI middleware: a declared or streamed body over ``max_bytes`` gets a problem+json 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(send)
                return
        seen = 0

        async def limited() -> Message:
            # A chunked body declares no length: count it as it arrives. The HTTPException
            # reaches the app's own handler, which answers with the same problem+json 413.
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, f"the request body is over {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "https://rampgate.dev/problems/request-too-large",
                "title": "Request too large",
                "status": 413,
                "detail": f"the request body is over {self.max_bytes} bytes",
                "errors": [
                    {
                        "field": "body",
                        "message": "too large",
                        "fix": f"send at most {self.max_bytes} bytes, e.g. smaller event batches",
                    }
                ],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
