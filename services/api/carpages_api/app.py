"""create_app(settings): the ASGI app. Clients are created in the lifespan, never at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from carpages_shared import heap
from fastapi import FastAPI
from fastapi.routing import APIRoute

from carpages_api import db_direct, errors, listing_setup, valkey_clients
from carpages_api.fast_lane import FastLane
from carpages_api.listing_lane import ListingLane
from carpages_api.metrics import Metrics, MetricsMiddleware
from carpages_api.page_l1 import PageL1
from carpages_api.page_service import PageService
from carpages_api.ranking import PopularityRanker, Ranker
from carpages_api.reco_model import ModelRanker, start_model_ranker
from carpages_api.routes import baseline, dedicated, health, listing
from carpages_api.settings import ApiSettings
from carpages_api.slot_transactions import SlotTransactions
from carpages_api.state import AppState

log = logging.getLogger(__name__)


def _clients(settings: ApiSettings) -> AppState:
    """The primary (or cluster), the replicas, transactions and the pub/sub client."""
    primary = valkey_clients.connect(settings.valkey_url, settings)
    replicas = [valkey_clients.connect(u, settings) for u in settings.valkey_replica_urls]
    if settings.valkey_cluster:
        transactions = SlotTransactions(
            primary, lambda host, port: valkey_clients.connect_node(host, port, settings))
        # Classic PUBLISH reaches every node of a cluster: the seed node's plain client hears it.
        subscriber = valkey_clients.connect_plain(settings.valkey_url, settings)
    else:
        transactions = SlotTransactions(primary)
        # Replicas receive PUBLISH through replication, after the writes that preceded it.
        subscriber = replicas[0] if replicas else primary
    return AppState(settings=settings, valkey=primary,
                    readers=valkey_clients.Readers(primary, replicas),
                    transactions=transactions, subscriber=subscriber)


def _start_l1(state: AppState) -> PageL1 | None:
    """The dedicated page's tracked in-process cache, when enabled and not on a cluster."""
    settings = state.settings
    if not settings.l1_cache or settings.valkey_cluster:
        return None
    # Tracked on the primary and filled from it: see page_l1 for why not a replica.
    try:
        l1 = PageL1(state.valkey, settings.valkey_url, settings.l1_max_cars,
                    settings.l1_max_buyers, settings.valkey_timeout_s, settings.l1_heartbeat_s)
    except ValueError as exc:  # e.g. TLS, which the raw tracking socket does not speak
        log.warning("dedicated-page L1 off: %s", exc)
        return None
    l1.start()
    return l1


async def _start_ranker(state: AppState) -> Ranker:
    """The LightFM-backed ranker (popularity until a model is published), or popularity alone
    when reco is disabled or the model store cannot be reached at start-up."""
    fallback = PopularityRanker()
    if not state.settings.reco_enabled:
        return fallback
    # Model reads are rare (a new version, new cars): the pub/sub client is enough, and on a
    # cluster the cluster client routes the `{reco}` and `{cp}` reads to their shards (the
    # announcements still come through the plain subscriber: the cluster client has no pub/sub).
    client = state.valkey if state.settings.valkey_cluster else state.subscriber
    try:
        return await start_model_ranker(client, fallback, subscriber=state.subscriber,
                                        sorted_prefix=state.settings.page_window)
    except Exception as exc:  # Valkey down at start-up must not stop the API from starting
        log.warning("reco model ranker unavailable (%r); using popularity", exc)
        return fallback


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the app for these settings (tests pass their own)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = _clients(settings)
        state.extras["metrics"] = metrics
        listing_generation = listing_setup.start(state)
        l1 = _start_l1(state)
        state.extras["page_service"] = PageService(state, l1)
        ranker = await _start_ranker(state)
        state.extras["ranker"] = ranker
        if settings.bench_baseline:
            state.extras["mysql_pool"] = db_direct.MysqlPool(settings.mysql_url)
        app.state.carpages = state
        # What start-up built lives as long as the process: out of the cyclic GC's reach
        # (its full collections were the listing's whole p99 at 32 connections; heap.py).
        collector = heap.settle()
        try:
            yield
        finally:
            heap.unsettle(collector)
            if l1 is not None:
                await l1.aclose()
            if isinstance(ranker, ModelRanker):
                await ranker.aclose()
            await listing_generation.stop()
            if "mysql_pool" in state.extras:
                state.extras["mysql_pool"].close()
            await state.transactions.aclose()
            owned = state.readers.clients
            if not any(client is state.subscriber for client in owned):
                owned.append(state.subscriber)
            for client in owned:
                await client.aclose()

    app = FastAPI(title="carpages", version="0.1.0", lifespan=lifespan,
                  description="Used-car dedicated pages and listings served from Valkey.")
    errors.install(app, settings.retry_after_s)
    app.include_router(health.router)
    app.include_router(dedicated.router)
    app.include_router(listing.router)
    if settings.bench_baseline:
        app.include_router(baseline.router)
    # Inside the metrics middleware, so fast-lane answers are timed and labelled like the route.
    app.add_middleware(FastLane, routes={route.path.endswith("/"): route
                                         for route in dedicated.router.routes
                                         if isinstance(route, APIRoute)})
    # Answers GET /listing/ without FastAPI's routing; any error falls through to the route.
    app.add_middleware(ListingLane)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
