"""ASGI middleware answering dedicated-page requests the L1 can answer on its own.

Routing, dependency solving and parameter validation cost more than the L1 hit they would wrap.
This lane answers `GET /listing/{car_id}/` (and the slashless spelling) from the L1 when the
request is valid and every snapshot it needs is cached; anything else — a bad id or token, a
snapshot to fetch, the L1 bypassed — goes on to the FastAPI route, which does all of it (and the
errors) itself. Both answer through PageService and dedicated.response, so they cannot differ.
The lane sits inside MetricsMiddleware and labels the request with the route it stands in for.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from carpages_api.errors import ApiError
from carpages_api.listing.param_names import IGNORED_HEADER
from carpages_api.web.deps import services_of
from carpages_api.web.id_params import page_query, parse_id

PREFIX = "/listing/"
IGNORED = IGNORED_HEADER.encode()


class DedicatedLane:
    """Serves L1 hits of the dedicated page; passes everything else to `app`."""

    def __init__(self, app: ASGIApp, routes: dict[bool, APIRoute]) -> None:
        self.app = app
        self.routes = routes
        """The route objects the lane stands in for, by trailing slash (for metrics)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PREFIX) and not scope.get("root_path"):
                response = self._answer(scope, path[len(PREFIX):])
                if response is not None:
                    scope["route"] = self.routes[path.endswith("/")]
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope, rest: str) -> Response | None:
        services = services_of(scope["app"])
        service = services.pages
        raw_id = rest[:-1] if rest.endswith("/") else rest
        if not raw_id or "/" in raw_id:
            return None
        authorization = if_none_match = None
        for name, value in scope["headers"]:
            # The first of each, as Starlette's Headers.get gives it.
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"if-none-match" and if_none_match is None:
                if_none_match = value.decode("latin-1")
        try:
            caller = services.verifier.identity(authorization)
            car = parse_id(raw_id, "car_id", service.max_car_id)
            seen, ignored = page_query(scope["query_string"], service.max_car_id,
                                       service.max_seen_ids)
        except ApiError:
            return None  # the route answers with the error
        answer: Response | None = service.cached(car, caller.buyer_id, seen, if_none_match)
        if answer is not None and ignored is not None:
            answer.raw_headers.append((IGNORED, ignored.encode()))
        return answer
