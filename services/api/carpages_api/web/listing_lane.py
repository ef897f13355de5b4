"""ASGI middleware answering `GET /listing/` by calling the listing endpoint directly.

FastAPI's routing and request wrapping cost about as much as a warm listing page itself (the
page is one Valkey pipeline away). The lane calls the very endpoint the route calls and renders
its errors through the same `errors.render` as the app's handlers, so the answers cannot differ
and nothing is computed twice: a 4xx or a Valkey outage's 503 (with Retry-After) is answered
here at once; an unexpected exception is logged, counted and answered with the JSON 500. It
sits inside MetricsMiddleware and labels the request with the route it stands in for.
"""

from __future__ import annotations

import logging

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from carpages_api import errors
from carpages_api.web import listing
from carpages_api.web.deps import services_of

log = logging.getLogger(__name__)

PATHS = frozenset({"/listing/", "/listing"})


class ListingLane:
    """Serves `GET /listing/` through the endpoint alone; passes everything else to `app`."""

    def __init__(self, app: ASGIApp, route: APIRoute | None = None) -> None:
        self.app = app
        self.route = route if route is not None else listing.documented_route()
        """The route object the lane stands in for (for metrics labels)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in PATHS
                and not scope.get("root_path")):
            request = Request(scope, receive)
            response: Response | None
            try:
                response = await listing.listing(request)
            except Exception as exc:
                services = services_of(scope["app"])
                response = errors.render(exc, services.settings.retry_after_s, services.metrics)
                if response is None:
                    log.exception("GET %s failed", scope["path"])
                    response = errors.internal(exc, services.metrics)
            scope["route"] = self.route
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
