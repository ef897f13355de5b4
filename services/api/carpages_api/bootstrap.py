"""`bootstrap(settings)`: every service a request uses, built once, closed in reverse order.

The one place that wires the API: Valkey clients, the listing's generation watcher and reader,
the dedicated page's L1 and miss filler, the ranker and (for the benchmark) the MySQL pool. Each
is registered on one AsyncExitStack as it is made, so a failure half-way closes exactly what was
already built, and shutdown closes everything in the reverse order of creation.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from prometheus_client import Counter

from carpages_api.auth.tokens import TokenVerifier
from carpages_api.dedicated.fill import PageFiller
from carpages_api.dedicated.l1 import PageL1
from carpages_api.dedicated.service import PageService
from carpages_api.listing.generation import Generation
from carpages_api.listing.page_l1 import ListingL1
from carpages_api.listing.parsed_queries import ParsedQueries
from carpages_api.listing.query import Limits
from carpages_api.listing.reader import ListingReader
from carpages_api.listing.round_trips import Count
from carpages_api.metrics import Metrics
from carpages_api.reco.model import start_model_ranker
from carpages_api.reco.ranking import PopularityRanker, Ranker
from carpages_api.settings import ApiSettings
from carpages_api.store import clients
from carpages_api.store.clients import Readers, ValkeyClient
from carpages_api.store.mysql_direct import MysqlPool
from carpages_api.store.sentinel import SentinelPrimary
from carpages_api.store.slot_transactions import SlotTransactions

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What requests use; one per app, made by `bootstrap`. Routes and lanes get it typed."""

    settings: ApiSettings
    metrics: Metrics
    primary: ValkeyClient
    """The primary (or the cluster client): every write goes here."""
    readers: Readers
    """Replicas, one picked per request (the primary when none are configured)."""
    transactions: SlotTransactions
    subscriber: ValkeyClient
    """A plain client for pub/sub (the asyncio cluster client has none)."""
    verifier: TokenVerifier
    pages: PageService
    listing: ListingReader
    queries: ParsedQueries
    ranker: Ranker
    """Read per request, so a new ranker (tests swap one in) takes effect at once."""
    mysql_pool: MysqlPool | None = None
    """Only with `bench_baseline`: the DB-direct twins of the two pages."""
    listing_l1: ListingL1 | None = None
    """Anonymous listing pages kept exact by client tracking (None: off)."""


def limits(settings: ApiSettings) -> Limits:
    """The listing's request bounds from the settings."""
    return Limits(page_size_default=settings.page_size_default,
                  page_size_max=settings.page_size_max, page_window=settings.page_window,
                  max_filter_values=settings.max_filter_values,
                  max_seen_ids=settings.max_seen_ids)


def listing_counter(metrics: Metrics) -> Count:
    """`count(kind, outcome)` for the listing's cache lookups, with the labelled children kept
    (Counter.labels takes a lock and builds a dict on every call)."""
    counters: dict[tuple[str, str], Counter] = {}

    def count(kind: str, outcome: str) -> None:
        counter = counters.get((kind, outcome))
        if counter is None:
            counter = counters[kind, outcome] = metrics.cache.labels(kind, outcome)
        counter.inc()

    return count


async def _valkey(stack: AsyncExitStack, settings: ApiSettings, metrics: Metrics
                  ) -> tuple[ValkeyClient, Readers, SlotTransactions, ValkeyClient]:
    """The primary (or cluster), the readers, transactions and the pub/sub client."""
    primary = clients.connect(settings.valkey_url, settings)
    stack.push_async_callback(primary.aclose)
    replicas = []
    for url in settings.valkey_replica_urls:
        replica = clients.connect(url, settings)
        stack.push_async_callback(replica.aclose)
        replicas.append(replica)
    if settings.valkey_cluster:
        transactions = SlotTransactions(
            primary, lambda host, port: clients.connect_node(host, port, settings))
        # Classic PUBLISH reaches every node of a cluster: the seed node's plain client hears it.
        subscriber = clients.connect_plain(settings.valkey_url, settings)
        stack.push_async_callback(subscriber.aclose)
    else:
        transactions = SlotTransactions(primary)
        # Replicas receive PUBLISH through replication, after the writes that preceded it.
        subscriber = replicas[0] if replicas else primary
    stack.push_async_callback(transactions.aclose)
    readers = Readers(primary, replicas, lambda exc: metrics.valkey_error("replica", exc))
    return primary, readers, transactions, subscriber


def make_l1(settings: ApiSettings, primary: ValkeyClient) -> PageL1 | None:
    """The dedicated page's tracked in-process cache, when enabled and not on a cluster."""
    if not settings.l1_cache or settings.valkey_cluster:
        return None
    # Tracked on the primary and filled from it: see dedicated.l1 for why not a replica.
    try:
        locate = primary.locate if isinstance(primary, SentinelPrimary) else None
        return PageL1(primary, settings.valkey_url, settings.l1_max_cars, settings.l1_max_buyers,
                      settings.valkey_timeout_s, settings.l1_heartbeat_s, locate)
    except ValueError as exc:  # e.g. TLS, which the raw tracking socket does not speak
        log.warning("dedicated-page L1 off: %s", exc)
        return None


def make_listing_l1(settings: ApiSettings, primary: ValkeyClient,
                    replicas: bool) -> ListingL1 | None:
    """The anonymous listing pages' tracked cache, when enabled, not on a cluster and with no
    replicas (a page read from a replica could be older than what the primary reported)."""
    if not settings.l1_cache or settings.valkey_cluster or replicas:
        return None
    try:
        locate = primary.locate if isinstance(primary, SentinelPrimary) else None
        return ListingL1(settings.valkey_url, settings.listing_l1_max_bytes,
                         settings.valkey_timeout_s, settings.l1_heartbeat_s, locate)
    except ValueError as exc:  # e.g. TLS, which the raw tracking socket does not speak
        log.warning("listing L1 off: %s", exc)
        return None


async def _ranker(stack: AsyncExitStack, settings: ApiSettings, primary: ValkeyClient,
                  subscriber: ValkeyClient) -> Ranker:
    """The LightFM-backed ranker (popularity until a model is published), or popularity alone
    when reco is disabled or the model store cannot be reached at start-up."""
    fallback = PopularityRanker()
    if not settings.reco_enabled:
        return fallback
    # Model reads are rare (a new version, new cars): the pub/sub client is enough, and on a
    # cluster the cluster client routes the `{reco}` and `{cp}` reads to their shards (the
    # announcements still come through the plain subscriber: the cluster client has no pub/sub).
    client = primary if settings.valkey_cluster else subscriber
    try:
        # Sorted past the page window by the most seen cars a viewer's snapshot moves to the
        # end (the `seen_car_ids` bound): those moves pull later positions into the window, and
        # they must be in order too. A signed-in buyer's seen set has no bound: one with more
        # seen cars among the first positions than that may get a window whose tail is in
        # candidate order.
        ranker = await start_model_ranker(
            client, fallback, subscriber=subscriber,
            sorted_prefix=settings.page_window + settings.max_seen_ids)
    except Exception as exc:  # Valkey down at start-up must not stop the API from starting
        log.warning("reco model ranker unavailable (%r); using popularity", exc)
        return fallback
    stack.push_async_callback(ranker.aclose)
    return ranker


@asynccontextmanager
async def bootstrap(settings: ApiSettings, metrics: Metrics | None = None
                    ) -> AsyncIterator[Services]:
    """Build the services for these settings; close them, newest first, on exit."""
    metrics = metrics if metrics is not None else Metrics()
    async with AsyncExitStack() as stack:
        primary, readers, transactions, subscriber = await _valkey(stack, settings, metrics)
        generation = Generation()
        # Meta is re-read where the subscription hears about it: a replica's view follows its
        # stream.
        generation.start(primary if settings.valkey_cluster else subscriber, subscriber)
        stack.push_async_callback(generation.stop)
        bounds = limits(settings)
        listing = ListingReader(readers, transactions, generation, bounds,
                                listing_counter(metrics))
        l1 = make_l1(settings, primary)
        listing_l1 = make_listing_l1(settings, primary, bool(readers.replicas))
        for tracked in (l1, listing_l1):
            if tracked is not None:
                tracked.start()
                stack.push_async_callback(tracked.aclose)
        filler = PageFiller(primary, transactions, settings.mysql_url, metrics,
                            settings.retry_after_s)
        pages = PageService(settings, metrics, readers, filler, l1)
        ranker = await _ranker(stack, settings, primary, subscriber)
        mysql_pool = None
        if settings.bench_baseline:
            mysql_pool = MysqlPool(settings.mysql_url)
            stack.callback(mysql_pool.close)
        yield Services(settings=settings, metrics=metrics, primary=primary, readers=readers,
                       transactions=transactions, subscriber=subscriber,
                       verifier=TokenVerifier(settings.jwt_secret, settings.jwt_algorithm,
                                              leeway_s=settings.jwt_leeway_s),
                       pages=pages, listing=listing, queries=ParsedQueries(bounds),
                       ranker=ranker, mysql_pool=mysql_pool, listing_l1=listing_l1)
