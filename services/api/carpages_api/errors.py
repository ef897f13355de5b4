"""JSON error bodies for every failure: 4xx for bad input, 503 when Valkey is unavailable, a
logged and counted 500 for a bug. The app's handlers and the listing lane render through `render`,
so an error looks the same whichever of them answered."""

from __future__ import annotations

from typing import Any

import orjson
from carpages_shared import logs
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from valkey.exceptions import ClusterError, SlotNotCoveredError, TryAgainError
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from carpages_api.metrics import Metrics


class ApiError(Exception):
    """An error with a status code and a JSON body `{"error": ..., "detail": ...}`."""

    def __init__(self, status: int, error: str, detail: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def json_error(status: int, error: str, detail: Any = None,
               headers: dict[str, str] | None = None) -> Response:
    """A JSON error response."""
    body = orjson.dumps({"error": error, "detail": detail})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


UNAVAILABLE = (ValkeyConnectionError, ValkeyTimeoutError, TimeoutError, ClusterError,
               TryAgainError, SlotNotCoveredError)
"""Valkey could not answer in time: 503 with Retry-After, never a 500. On a cluster also a
node that is down (CLUSTERDOWN, MASTERDOWN: ClusterError), a slot being moved (TRYAGAIN) and a
slot no node serves yet."""


def unavailable(exc: BaseException, retry_after_s: int) -> Response:
    """The 503 answer to a Valkey outage."""
    return json_error(503, "cache unavailable", type(exc).__name__,
                      {"Retry-After": str(retry_after_s)})


def render(exc: Exception, retry_after_s: int, metrics: Metrics) -> Response | None:
    """The answer to a known error (ApiError, a Valkey outage, counted); None for anything
    else."""
    if isinstance(exc, ApiError):
        return json_error(exc.status, exc.error, exc.detail, exc.headers)
    if isinstance(exc, UNAVAILABLE):
        metrics.valkey_error("request", exc)
        return unavailable(exc, retry_after_s)
    return None


def internal(exc: BaseException, metrics: Metrics) -> Response:
    """The answer to a bug: counted, and a JSON 500 (never Starlette's plain-text one). The
    traceback is logged by whoever caught it (the lane here; uvicorn for a route)."""
    metrics.unhandled.inc()
    return json_error(500, "internal error", type(exc).__name__)


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header")]
        out.append({"param": ".".join(loc) or "request", "message": err.get("msg", "invalid")})
    return out


def install(app: FastAPI, retry_after_s: int, metrics: Metrics) -> None:
    """Register the handlers on an app."""

    async def known(_: Request, exc: Exception) -> Response:
        response = render(exc, retry_after_s, metrics)
        assert response is not None
        return response

    async def bug(_: Request, exc: Exception) -> Response:
        # Starlette's ServerErrorMiddleware sends this, then re-raises for the server to log. It
        # wraps every user middleware, so the id middleware never sees this answer: the id is
        # taken from the context variable it set (same task, so still visible here).
        response = internal(exc, metrics)
        rid = logs.request_id.get()
        if rid is not None:
            response.headers["x-request-id"] = rid
        return response

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return json_error(422, "invalid request", _validation_detail(exc))

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return json_error(exc.status_code, str(exc.detail), None,
                          dict(exc.headers) if exc.headers else None)

    app.add_exception_handler(ApiError, known)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, known)
    app.add_exception_handler(Exception, bug)
