"""create_app(settings): the ASGI app. Services are built in the lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from carpages_shared import heap, logs
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from carpages_api import errors
from carpages_api.bootstrap import bootstrap
from carpages_api.metrics import Metrics, MetricsMiddleware
from carpages_api.reco import blas
from carpages_api.settings import ApiSettings
from carpages_api.web import baseline, contract, dedicated, health, listing
from carpages_api.web.dedicated_lane import DedicatedLane, ReplayFailure
from carpages_api.web.listing_lane import ListingLane
from carpages_api.web.request_id import RequestIdMiddleware


class CarpagesApp(FastAPI):
    """FastAPI with the dedicated page's fast lane in front of everything else it does."""

    lane: DedicatedLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.lane
        if lane is not None and lane.takes(scope):
            await lane(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    @property
    def routed(self) -> ASGIApp:
        """The app without the lane: FastAPI's own handling of a request."""
        return super().__call__

    def lane_may_answer(self) -> bool:
        """Whether nothing the lane skips applies now: a root path (the routes would not match
        as the lane does) or FastAPI's OpenTelemetry instrumentation, which must see every
        request (it is on only once a provider is configured, before the app serves)."""
        return not self.root_path and not self._native_telemetry.enabled()


def create_app(settings: ApiSettings, *, lanes: bool = True) -> FastAPI:
    """Build the app for these settings (tests pass their own). `lanes=False` leaves out the
    two ASGI lanes, so every request goes through FastAPI's routing (the equivalence tests
    compare the two)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap(settings, metrics) as services:
            app.state.services = services
            lane = app.lane if isinstance(app, CarpagesApp) and app.lane_may_answer() else None
            if lane is not None:
                lane.services = services
            # What start-up built lives as long as the process: out of the cyclic GC's reach
            # (its full collections were the listing's whole p99 at 32 connections; heap.py).
            collector = heap.settle()
            try:
                yield
            finally:
                if lane is not None:
                    lane.services = None
                heap.unsettle(collector)

    app = CarpagesApp(title="carpages", version="0.1.0", lifespan=lifespan,
                      description="Used-car dedicated pages and listings served from Valkey.")
    errors.install(app, settings.retry_after_s, metrics)
    app.include_router(health.router)
    app.include_router(dedicated.router)
    app.include_router(listing.router)
    if settings.bench_baseline:
        app.include_router(baseline.router)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract.fit_to_settings(generate(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if lanes:
        # The dedicated lane runs before the whole stack and does the request id and metrics
        # itself; a bug it meets is raised again here, inside those middlewares, as before.
        app.lane = DedicatedLane(app.routed, metrics=metrics,
                                 routes={route.path.endswith("/"): route
                                         for route in dedicated.router.routes
                                         if isinstance(route, APIRoute)})
        app.add_middleware(ReplayFailure)
        # Inside the metrics middleware, so lane answers are timed and labelled like the route.
        app.add_middleware(ListingLane)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries the id
    return app


def app_from_environment() -> FastAPI:
    """The app for the `API_*` settings in the environment: the factory a server imports by name
    (Granian builds the app in its worker process, so it cannot be handed a built app)."""
    settings = ApiSettings()  # type: ignore[call-arg]  # values come from the environment
    # In the serving process itself: one log format for the app's and the server's lines, and
    # the scoring product's thread count (process-wide, so not in create_app, which tests call
    # next to their own reference computations).
    logs.configure(settings.log_level)
    blas.limit(settings.blas_threads)
    return create_app(settings)
