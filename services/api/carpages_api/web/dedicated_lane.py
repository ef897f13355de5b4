"""The dedicated page's fast lane: `GET /listing/{car_id}/` answered from the L1 ahead of the
whole ASGI stack.

An L1 hit is a few microseconds of work; the layers that used to surround it (FastAPI's
telemetry check, Starlette's error middleware, the body limit, the request-id and metrics
middlewares, a Response object) cost several times that. So the app (app.CarpagesApp) calls
this lane before any of them, and for a hit the lane does inline what they did, with the same
outcome: the `X-Request-ID` (kept or made, set for log lines, appended last to the headers), one
latency observation labelled with the route the lane stands in for and the status sent, and the
response as two ready ASGI messages.

Anything else (a bad id or token, a snapshot to fetch) goes on to the stack with the id already
made, and the FastAPI route does all of it, errors included. Both answer through PageService
and dedicated.response, so they cannot differ. An unexpected exception goes on too and is raised
again where the lane used to sit in the stack (`ReplayFailure`), so a bug is answered, logged
and counted exactly as before.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from carpages_shared import logs
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from carpages_api.bootstrap import Services
from carpages_api.dedicated.response import Answer
from carpages_api.errors import ApiError
from carpages_api.listing.param_names import IGNORED_HEADER
from carpages_api.metrics import Metrics
from carpages_api.web import request_id
from carpages_api.web.id_params import page_query, parse_id

PREFIX = "/listing/"
IGNORED = IGNORED_HEADER.encode()
FAILURE_KEY = "carpages.lane_failure"
"""The exception the lane hit while looking at a request it hands on (see ReplayFailure)."""


class DedicatedLane:
    """Serves L1 hits of the dedicated page; hands everything else to `rest` (the stack)."""

    def __init__(self, rest: ASGIApp, routes: dict[bool, APIRoute], metrics: Metrics) -> None:
        self.rest = rest
        self.routes = routes
        """The route objects the lane stands in for, by trailing slash (for metrics)."""
        self.metrics = metrics
        self.services: Services | None = None
        """Set by the lifespan while the lane may answer; None sends everything to the stack."""
        self._latency: dict[tuple[bool, int], Any] = {}

    def takes(self, scope: Scope) -> bool:
        """Whether the lane looks at this request at all (the stack gets the others as they are).
        `/listing/` itself is the listing, not a car."""
        if self.services is None or scope["type"] != "http" or scope["method"] != "GET":
            return False
        path: str = scope["path"]
        return path.startswith(PREFIX) and len(path) > len(PREFIX) and not scope.get("root_path")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request `takes` accepted."""
        rid = authorization = if_none_match = None
        for name, value in scope["headers"]:
            # The first of each, as RequestIdMiddleware and Starlette's Headers.get take them.
            if name == request_id.HEADER:
                if rid is None:
                    rid = value
            elif name == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == b"if-none-match" and if_none_match is None:
                if_none_match = value.decode("latin-1")
        rid = request_id.kept_or_new(rid)
        # Before any work: a log line written while answering (a lost tracking link) carries it.
        logs.request_id.set(rid.decode())
        started = perf_counter()
        try:
            answer = self._answer(scope, authorization, if_none_match)
        except Exception as exc:
            scope[FAILURE_KEY] = exc
            answer = None
        if answer is None:
            scope[request_id.SCOPE_KEY] = rid
            await self.rest(scope, receive, send)
            return
        status, headers, body = answer
        slash = scope["path"].endswith("/")
        scope["route"] = self.routes[slash]
        headers.append((request_id.HEADER, rid))
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            # As MetricsMiddleware: timed to the end of sending, with the status once sent.
            self._latency_of(slash, status).observe(perf_counter() - started)

    def _latency_of(self, slash: bool, status: int) -> Any:
        """The latency histogram's child for this route and status (looked up once each)."""
        child = self._latency.get((slash, status))
        if child is None:
            metrics = self.metrics
            child = self._latency[slash, status] = metrics.child(
                metrics.latency, self.routes[slash].path, "GET", str(status))
        return child

    def _answer(self, scope: Scope, authorization: str | None,
                if_none_match: str | None) -> Answer | None:
        services = self.services
        assert services is not None  # `takes` said so, and nothing yielded since
        service = services.pages
        rest: str = scope["path"][len(PREFIX):]
        raw_id = rest[:-1] if rest.endswith("/") else rest
        if not raw_id or "/" in raw_id:
            return None
        try:
            caller = services.verifier.identity(authorization)
            car = parse_id(raw_id, "car_id", service.max_car_id)
            seen, ignored = page_query(scope["query_string"], service.max_car_id,
                                       service.max_seen_ids)
        except ApiError:
            return None  # the route answers with the error
        answer = service.cached(car, caller.buyer_id, seen, if_none_match)
        if answer is not None and ignored is not None:
            answer[1].append((IGNORED, ignored.encode()))
        return answer


class ReplayFailure:
    """Raises the exception the lane met with a request it handed on, at the lane's former
    place in the stack: the metrics, request-id and server-error layers outside it then count,
    answer and log the bug just as when the lane sat here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failure = scope.get(FAILURE_KEY)
        if failure is not None:
            raise failure
        await self.app(scope, receive, send)
