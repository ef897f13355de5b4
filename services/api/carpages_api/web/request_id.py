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
SCOPE_KEY = "carpages.request_id"
"""Where the dedicated lane, which runs before this middleware, leaves the id it made for a
request it hands on: one id per request, whoever makes it."""
_SAFE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class _RandomIds:
    """New ids: 128 random bits as 32 hex digits, as a UUID4's hex would be. The bits come from
    os.urandom in batches: one syscall per request was a tenth of a dedicated-page hit's cost."""

    BATCH = 256

    def __init__(self) -> None:
        self._hex = b""
        self._at = 0
        # A forked child must not hand out the ids its parent still has in stock.
        os.register_at_fork(after_in_child=self._discard)

    def _discard(self) -> None:
        self._hex, self._at = b"", 0

    def next(self) -> bytes:
        at = self._at
        if at >= len(self._hex):
            self._hex, at = os.urandom(16 * self.BATCH).hex().encode(), 0
        self._at = at + 32
        return self._hex[at:at + 32]


new_id = _RandomIds().next


def request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request's id: the caller's `X-Request-ID` if it is safe, else a new one."""
    for name, value in headers:
        if name == HEADER:
            return kept_or_new(value)
    return new_id()


def kept_or_new(value: bytes | None) -> bytes:
    """The id for a request whose first `X-Request-ID` is `value` (None: it sent none)."""
    if value is not None and _SAFE.fullmatch(value):
        return value
    return new_id()


class RequestIdMiddleware:
    """Pure ASGI middleware (no task per request): sets `logs.request_id` and the header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = scope.get(SCOPE_KEY) or request_id(scope["headers"])
        # Not reset afterwards on purpose: the server runs each request in its own task (its
        # own copy of the context), and the server's own "Exception in ASGI application" line,
        # written after this returns, should carry the id too.
        logs.request_id.set(rid.decode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (HEADER, rid)]
            await send(message)

        await self.app(scope, receive, send_with_id)
