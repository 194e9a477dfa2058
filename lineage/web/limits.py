"""The request size limit: a body over the limit is answered 413 before it is read (by its Content-Length), or as
soon as what has been read passes the limit (a chunked body), never buffered whole."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

from lineage.web.console import DEFAULT_MAX_BODY

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large(limit: int) -> str:
    return f"the request body is larger than the server accepts ({limit} bytes; LINEAGE_WEB_MAX_BODY)"


class BodyLimit:
    """ASGI middleware: 413 for a request whose body is over ``limit`` bytes.

    A declared ``Content-Length`` over the limit is answered at once, before the application runs (so before the
    token is even checked: the answer carries nothing). A body without one (chunked) is counted as the application
    reads it, and reading past the limit raises an ``HTTPException(413)`` where the application reads, which its
    exception handling turns into the answer. The server (uvicorn) stops reading the socket while nobody reads the
    body, so an unread body costs no memory.
    """

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and (declared < 0 or declared > self.limit):
            await _refuse(send, self.limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, too_large(self.limit))
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1  # not a number: refused like an oversized body
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the unread body is not drained
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
