"""create_app(settings): the ASGI app. Clients are created in the lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import valkey.asyncio
from fastapi import FastAPI

from carpages_api import db_direct, errors, listing_setup
from carpages_api.metrics import Metrics, MetricsMiddleware
from carpages_api.ranking import PopularityRanker
from carpages_api.routes import baseline, dedicated, health, listing
from carpages_api.settings import ApiSettings
from carpages_api.state import AppState


def _client(url: str, settings: ApiSettings) -> valkey.asyncio.Valkey:
    # A short socket timeout turns a hung Valkey into a quick 503 instead of a hung request;
    # the pool reconnects by itself when Valkey is back.
    return valkey.asyncio.Valkey.from_url(
        url, socket_timeout=settings.valkey_timeout_s,
        socket_connect_timeout=settings.valkey_timeout_s,
        max_connections=settings.valkey_pool_size, health_check_interval=0,
        retry_on_timeout=False)


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the app for these settings (tests pass their own)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        primary = _client(settings.valkey_url, settings)
        replicas = [_client(u, settings) for u in settings.valkey_replica_urls]
        state = AppState(settings=settings, valkey=primary,
                         reader=replicas[0] if replicas else primary)
        state.extras["metrics"] = metrics
        state.extras["ranker"] = PopularityRanker()  # until a LightFM model is published
        listing_generation = listing_setup.start(state)
        if settings.bench_baseline:
            state.extras["mysql_pool"] = db_direct.MysqlPool(settings.mysql_url)
        app.state.carpages = state
        try:
            yield
        finally:
            await listing_generation.stop()
            if "mysql_pool" in state.extras:
                state.extras["mysql_pool"].close()
            for client in [*replicas, primary]:
                await client.aclose()

    app = FastAPI(title="carpages", version="0.1.0", lifespan=lifespan,
                  description="Used-car dedicated pages and listings served from Valkey.")
    errors.install(app, settings.retry_after_s)
    app.include_router(health.router)
    app.include_router(dedicated.router)
    app.include_router(listing.router)
    if settings.bench_baseline:
        app.include_router(baseline.router)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
