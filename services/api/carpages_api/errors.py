"""JSON error bodies for every failure: 4xx for bad input, 503 when Valkey is unavailable."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError


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


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header")]
        out.append({"param": ".".join(loc) or "request", "message": err.get("msg", "invalid")})
    return out


def install(app: FastAPI, retry_after_s: int) -> None:
    """Register the handlers on an app."""

    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return json_error(exc.status, exc.error, exc.detail, exc.headers)

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return json_error(422, "invalid request", _validation_detail(exc))

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return json_error(exc.status_code, str(exc.detail), None,
                          dict(exc.headers) if exc.headers else None)

    async def unavailable(_: Request, exc: Exception) -> Response:
        return json_error(503, "cache unavailable", type(exc).__name__,
                          {"Retry-After": str(retry_after_s)})

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ValkeyConnectionError, unavailable)
    app.add_exception_handler(ValkeyTimeoutError, unavailable)
    app.add_exception_handler(TimeoutError, unavailable)
