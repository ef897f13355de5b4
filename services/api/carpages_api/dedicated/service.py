"""The dedicated page's request logic, between a parsed request and its response.

In order of cost: the L1 (no Valkey round trip), one L1 fill (one pipelined round trip to the
primary), and without a usable L1 the plain read on a replica with the single-flight fill from
MySQL behind it. The route and the fast lane both come through here.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

from starlette.responses import Response

from carpages_api.dedicated import response
from carpages_api.dedicated.fill import PageFiller
from carpages_api.dedicated.l1 import PageL1
from carpages_api.dedicated.overlay import PageRead
from carpages_api.dedicated.reader import read_page
from carpages_api.dedicated.response import Answer, RawResponse
from carpages_api.errors import ApiError
from carpages_api.metrics import Metrics
from carpages_api.settings import ApiSettings
from carpages_api.store.clients import Readers, ValkeyClient


class _NotFound(Exception):
    """No live car: `outcome` says how the cache answered (negative, or miss then no car)."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class PageService:
    """One app's dedicated-page logic; made in the lifespan."""

    def __init__(self, settings: ApiSettings, metrics: Metrics, readers: Readers,
                 filler: PageFiller, l1: PageL1 | None) -> None:
        self.readers = readers
        self.primary = readers.primary
        self.filler = filler
        self.l1 = l1
        self.max_car_id = settings.max_car_id
        self.max_seen_ids = settings.max_seen_ids
        self.metrics = metrics
        self.cache_control = response.public_cache_control(settings.cache_max_age_s,
                                                                settings.cache_swr_s)

    def cached(self, car: int, buyer_id: int | None, seen: Collection[int],
               if_none_match: str | None) -> Answer | None:
        """The answer straight from the L1 when everything it needs is there; no I/O."""
        l1 = self.l1
        if l1 is None or not l1.usable:
            return None
        snapshot = l1.cars.get(car)
        if snapshot is None:
            return None
        buyer = None
        if buyer_id is not None and (buyer := l1.buyers.get(buyer_id)) is None:
            return None
        for counter in self._hit_counters:
            counter.inc()
        return response.from_snapshots(car, snapshot, buyer_id, buyer, seen,
                                            if_none_match, self.cache_control)

    @functools.cached_property
    def _hit_counters(self) -> tuple[Any, ...]:
        """The counters an L1 hit bumps (made on the first hit, so no zero series before)."""
        metrics = self.metrics
        return (metrics.child(metrics.l1, "hit"), metrics.child(metrics.cache, "dedicated", "hit"))

    async def answer(self, car: int, buyer_id: int | None, seen: Collection[int],
                     if_none_match: str | None) -> Response:
        """The response, reading Valkey (and MySQL on a miss) as needed; ApiError 404."""
        l1 = self.l1
        if l1 is not None and l1.usable:
            snapshot, buyer, fetched = await l1.read(car, buyer_id)
            if snapshot is not None:
                self.metrics.l1_lookup("fill" if fetched else "hit")
                self.metrics.cache_lookup("dedicated", "hit")
                return RawResponse.of(response.from_snapshots(
                    car, snapshot, buyer_id, buyer, seen, if_none_match, self.cache_control))
            # No page in Valkey: the plain path below fills it (single-flight).
        elif l1 is not None:
            self.metrics.l1_lookup("bypass")
        try:
            read, outcome = await self.readers.run(
                lambda reader: self._lookup(reader, car, buyer_id))
        except _NotFound as missing:
            self.metrics.cache_lookup("dedicated", missing.outcome)
            raise ApiError(404, "car not found", {"car_id": car}) from None
        self.metrics.cache_lookup("dedicated", outcome)
        return RawResponse.of(response.from_read(read, seen, if_none_match, outcome == "hit",
                                                 self.cache_control))

    async def _lookup(self, reader: ValkeyClient, car: int,
                      buyer_id: int | None) -> tuple[PageRead, str]:
        """The page read and how the cache answered (hit / miss); raise _NotFound."""
        primary = self.primary
        read = await read_page(reader, car, buyer_id)
        if read.page is None and not read.known_missing and reader is not primary:
            # Not on this replica (yet): a page written a moment ago, or a replica still
            # syncing, is on the primary, and MySQL need not be asked.
            read = await read_page(primary, car, buyer_id)
        if read.page is not None:
            return read, "hit"
        outcome = "negative" if read.known_missing else "miss"
        if read.known_missing or not await self.filler.ensure(car):
            raise _NotFound(outcome)
        # Re-read from the primary, where the fill was written (a replica may lag).
        read = await read_page(primary, car, buyer_id)
        if read.page is None:
            raise _NotFound(outcome)
        return read, outcome

