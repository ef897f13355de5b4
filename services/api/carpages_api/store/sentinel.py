"""The primary of a `valkey+sentinel://` URL: a queueing pool that asks the sentinels where it is.

valkey-py's `SentinelConnectionPool` resolves the primary's address through the sentinels each
time it opens a connection, and drops idle connections when the answer changes; a connection
still open to a demoted primary turns its READONLY reply into a ConnectionError and reconnects.
Requests in flight during a failover fail fast (a 503, as in any Valkey outage) and the next
ones reach the promoted replica. Mixing that pool with `QueueingPool` keeps the burst behaviour
of the standalone path; nothing is added per request (the sentinels are asked only on connect).

`locate()` is what the L1's tracking connection uses: the address the sentinels name now.
"""

from __future__ import annotations

from typing import Any

import valkey.asyncio
from carpages_shared.dsn import SentinelDsn, sentinel_arguments
from valkey.asyncio.sentinel import Sentinel, SentinelConnectionPool

from carpages_api.store.queueing_pool import QueueingPool


class QueueingSentinelPool(QueueingPool, SentinelConnectionPool):  # type: ignore[misc]
    """SentinelConnectionPool whose checkouts queue like QueueingPool's."""

    def __init__(self, service_name: str, sentinel_manager: Sentinel, wait_s: float,
                 **kwargs: Any) -> None:
        super().__init__(wait_s=wait_s, service_name=service_name,
                         sentinel_manager=sentinel_manager, **kwargs)


class SentinelPrimary(valkey.asyncio.Valkey):  # type: ignore[misc]  # valkey is untyped
    """The primary's client; closing it also closes the connections to the sentinels."""

    sentinel: Sentinel | None = None
    service: str = ""

    async def locate(self) -> tuple[str, int]:
        """The primary's address as the sentinels see it now (MasterNotFoundError if none)."""
        assert self.sentinel is not None
        host, port = await self.sentinel.discover_master(self.service)
        return str(host), int(port)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the pool, then the sentinel clients."""
        await super().aclose(close_connection_pool)
        if self.sentinel is not None:
            for client in self.sentinel.sentinels:
                await client.aclose()


def primary(dsn: SentinelDsn, wait_s: float, options: dict[str, Any]) -> SentinelPrimary:
    """A client of the primary `dsn`'s sentinels name, over a queueing pool."""
    sentinels, to_sentinels, kwargs = sentinel_arguments(dsn, options)
    sentinel = Sentinel(sentinels, sentinel_kwargs=to_sentinels)
    client: SentinelPrimary = sentinel.master_for(
        dsn.service, valkey_class=SentinelPrimary, connection_pool_class=QueueingSentinelPool,
        wait_s=wait_s, **kwargs)
    client.sentinel, client.service = sentinel, dsn.service
    return client
