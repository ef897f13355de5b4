"""`X-Request-ID`: one id per request, echoed on the response and carried by every log line.

The caller's id is kept when it looks like one (the storefront or the ingress sets it, so one id
follows a page view through every hop); otherwise the API makes one. Kept ids are bounded and
restricted to a safe alphabet: a header value must never forge or break a log line.
"""

from __future__ import annotations

import os
import re

from carpages_shared import logs
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_SAFE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request's id: the caller's `X-Request-ID` if it is safe, else a new one."""
    for name, value in headers:
        if name == HEADER:
            if _SAFE.fullmatch(value):
                return value
            break
    # 128 random bits as 32 hex digits, as a UUID4's hex would be, at a fifth of uuid4's cost
    # (this runs on every request).
    return os.urandom(16).hex().encode()


class RequestIdMiddleware:
    """Pure ASGI middleware (no task per request): sets `logs.request_id` and the header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope["headers"])
        # Not reset afterwards on purpose: the server runs each request in its own task (its
        # own copy of the context), and the server's own "Exception in ASGI application" line,
        # written after this returns, should carry the id too.
        logs.request_id.set(rid.decode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (HEADER, rid)]
            await send(message)

        await self.app(scope, receive, send_with_id)
