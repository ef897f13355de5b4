"""The API's Valkey clients: the primary (or a cluster) for writes, replicas for reads.

Reads are spread over the replicas one *request* at a time: every read of a request goes to the
replica picked for it, so the listing's meta check and the keys it names come from one server's
view (two replicas may lag by different amounts). A replica that fails a request is rested for a
few seconds and the request's reads are retried on the primary, so one broken replica costs no
failed requests. On Valkey Cluster the cluster client routes every read to the slot's primary.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeAlias, TypeVar

import valkey.asyncio
from carpages_shared.dsn import is_sentinel, sentinel_dsn
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import ResponseError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from carpages_api.settings import ApiSettings
from carpages_api.store import sentinel
from carpages_api.store.gated_cluster import GatedCluster
from carpages_api.store.queueing_pool import QueueingPool

log = logging.getLogger(__name__)

T = TypeVar("T")
ValkeyClient: TypeAlias = Any
"""valkey.asyncio.Valkey or GatedCluster (valkey-py ships no type information)."""
Pipeline: TypeAlias = Any
"""A pipeline of a ValkeyClient (untyped upstream, like the client)."""
REST_S: Final = 5.0
"""How long a replica that failed a request gets no new requests."""
REPLICA_ERRORS: Final = (ValkeyConnectionError, ValkeyTimeoutError, TimeoutError)
"""Failures that say "this server cannot answer now" (LOADING is a ConnectionError too)."""
UNSYNCED: Final = ("MASTERDOWN",)
"""Error prefix of a replica that refuses reads while its link to the primary is down
(`replica-serve-stale-data no`)."""


def options(settings: ApiSettings) -> dict[str, Any]:
    """Connection options shared by every client of the app."""
    # A short socket timeout turns a hung Valkey into a quick 503 instead of a hung request;
    # the pool reconnects by itself when Valkey is back.
    return {"socket_timeout": settings.valkey_timeout_s,
            "socket_connect_timeout": settings.valkey_timeout_s,
            "max_connections": settings.valkey_pool_size, "health_check_interval": 0}


def _pooled(settings: ApiSettings, url: str | None = None, **server: Any) -> Any:
    """A client over a queueing pool: with every connection busy (more requests in flight
    than `API_VALKEY_POOL_SIZE`), a request waits up to `API_VALKEY_POOL_WAIT_S` for one to come
    back. The default pool raises "Too many connections" at once instead, which turned any burst
    of over 64 concurrent requests into 503s (seen at 512 connections: 90% of answers)."""
    config = {**options(settings), "retry_on_timeout": False,
              "wait_s": settings.valkey_pool_wait_s}
    if url is not None and is_sentinel(url):
        wait_s = config.pop("wait_s")
        return sentinel.primary(sentinel_dsn(url), wait_s, config)
    pool = (QueueingPool.from_url(url, **config) if url is not None
            else QueueingPool(**server, **config))
    return valkey.asyncio.Valkey.from_pool(pool)  # the client closes the pool with itself


def connect(url: str, settings: ApiSettings) -> Any:
    """An asyncio client for `url`: valkey.asyncio.Valkey, a ValkeyCluster in cluster mode, or
    the primary a `valkey+sentinel://` URL's sentinels name (store.sentinel)."""
    if settings.valkey_cluster:
        # One attempt: a request fails fast to a 503 (store.gated_cluster).
        return GatedCluster.from_url(url, wait_s=settings.valkey_pool_wait_s,
                                     cluster_error_retry_attempts=1, **options(settings))
    return _pooled(settings, url)


def connect_plain(url: str, settings: ApiSettings) -> Any:
    """A plain asyncio client for the one server `url` names, even in cluster mode."""
    return _pooled(settings, url)


def connect_node(host: str, port: int, settings: ApiSettings) -> Any:
    """A plain asyncio client for one server (a cluster node, for MULTI and pub/sub)."""
    return _pooled(settings, host=host, port=port)


def _unavailable(exc: Exception) -> bool:
    if isinstance(exc, REPLICA_ERRORS):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith(UNSYNCED)


class Readers:
    """Where requests read: the replicas in turn (one per request), else the primary."""

    def __init__(self, primary: ValkeyClient, replicas: Sequence[Any],
                 on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.on_failure = on_failure
        """Told of every replica failure that sent a request to the primary (a metric)."""
        self._turn = itertools.cycle(range(len(self.replicas)))
        self._rested_until = [0.0] * len(self.replicas)

    @property
    def clients(self) -> list[Any]:
        """Every distinct client (for closing)."""
        return [*self.replicas, self.primary]

    def pick(self) -> Any:
        """The reader for one request: the next replica not resting, else the primary."""
        now = time.monotonic()
        for _ in self.replicas:
            index = next(self._turn)
            if self._rested_until[index] <= now:
                return self.replicas[index]
        return self.primary

    def rest(self, client: ValkeyClient) -> None:
        """Send no requests to this replica for REST_S seconds."""
        for index, replica in enumerate(self.replicas):
            if replica is client:
                self._rested_until[index] = time.monotonic() + REST_S

    async def run(self, reads: Callable[[Any], Awaitable[T]]) -> T:
        """Run one request's `reads` on a picked reader; if a replica cannot answer, rest it and
        run them once more on the primary (reads are idempotent; writes inside go to the
        primary anyway)."""
        client = self.pick()
        if client is self.primary:
            return await reads(client)
        try:
            return await reads(client)
        except (ValkeyConnectionError, ValkeyTimeoutError, TimeoutError, ResponseError) as exc:
            if not _unavailable(exc):
                raise
            log.warning("replica failed (%s: %s); resting it, reading the primary",
                        type(exc).__name__, exc)
            self.rest(client)
            if self.on_failure is not None:
                self.on_failure(exc)
        return await reads(self.primary)
