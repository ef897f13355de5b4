"""ASGI middleware answering `GET /listing/` by calling the listing endpoint directly.

FastAPI's routing and request wrapping cost about as much as a warm listing page itself (the
page is one Valkey pipeline away). The lane calls the very endpoint the route calls, so the
answers cannot differ; any exception (a 4xx ApiError, Valkey unavailable) is left to the route,
which runs again and renders it with the app's exception handlers. It sits inside
MetricsMiddleware and labels the request with the route it stands in for.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from carpages_api.routes import listing

PATHS = frozenset({"/listing/", "/listing"})


class ListingLane:
    """Serves `GET /listing/` through the endpoint alone; passes everything else to `app`."""

    def __init__(self, app: ASGIApp, route: Any = None) -> None:
        self.app = app
        self.route = route if route is not None else listing.documented_route()
        """The route object the lane stands in for (for metrics labels)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in PATHS
                and not scope.get("root_path")):
            try:
                response = await listing.listing(Request(scope, receive))
            except Exception:
                response = None  # the route answers it, through the exception handlers
            if response is not None:
                scope["route"] = self.route
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
