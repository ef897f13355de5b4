"""The `newest` and `price` orders of `GET /listing/`: a window of the result ZSET, kept in
process memory; a missing result is composed in one MULTI on the primary that also returns the
window. A request that composed reads its cards from the primary (a replica may not have the
result yet) and does not keep the window (later requests read their own replica's copy)."""

from __future__ import annotations

import time

from carpages_shared import keys

from carpages_api.listing import composition
from carpages_api.listing.cache import Window, deadline
from carpages_api.listing.query import Filters
from carpages_api.listing.round_trips import RoundTrips
from carpages_api.listing.slice import Slice, ids_of, present
from carpages_api.store.clients import Pipeline, ValkeyClient


class OrderedPath:
    """Reads pages of the newest / price orders."""

    def __init__(self, trips: RoundTrips) -> None:
        self.trips = trips

    async def read(self, reader: ValkeyClient, filters: Filters, order_by: str, start: int,
                       stop: int) -> Slice:
        key_order = composition.order_key(order_by)
        ascending = order_by == "price_asc"
        window = self.trips.limits.page_window
        # The sentinel scores lowest: ascending windows skip index 0, descending ones may end
        # on it (ids_of drops it).
        lo, hi = (1, window) if ascending else (0, window - 1)
        qhash = filters.digest()
        cached: list[Window | None] = [None]
        started = time.monotonic()

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            key = keys.query_result(build, version, key_order, qhash)
            hit = self.trips.cache.results.get((key, ascending))
            cached[0] = hit if isinstance(hit, Window) else None
            if cached[0] is not None:
                if start < len(cached[0].ids):
                    pipe.hmget(keys.cards(build), cached[0].ids[start:stop + 1])
                return
            pipe.zcard(key)
            pipe.zrange(key, lo, hi, desc=not ascending)
            pipe.pttl(key)

        gen, replies = await self.trips.verified(reader, reads)
        hit = cached[0]
        if hit is not None:
            self.trips.count("listing_result", "hit")
            ids = hit.ids[start:stop + 1]
            return Slice(gen, hit.count, ids, reader, present(replies[0]) if ids else [])
        size, members, pttl = replies
        self.trips.count("listing_result", "hit" if size else "miss")
        key = keys.query_result(*gen, key_order, qhash)
        if size:
            found = Window(size - 1, ids_of(members))
            until = deadline(started, pttl, keys.QUERY_TTL)
            if until is not None:
                self.trips.cache.results.put((key, ascending), found, until, len(found.ids) + 1)
            return Slice(gen, found.count, found.ids[start:stop + 1], reader)
        plan = composition.plan(*gen, filters, key_order)

        def queue(pipe: Pipeline) -> None:
            composition.queue(pipe, plan)
            pipe.zcard(plan.dest)
            pipe.zrange(plan.dest, lo, hi, desc=not ascending)

        async with self.trips.composing(plan.dest) as first:
            if not first:  # another request of this process just composed it: read it
                return await self.read(reader, filters, order_by, start, stop)
            started = time.monotonic()
            *_, size, members = await self.trips.on_primary(reader, gen, plan.dest, queue)
        found = Window(size - 1, ids_of(members))
        if reader is self.trips.writer:
            self.trips.cache.results.put((key, ascending), found, started + keys.QUERY_TTL,
                                   len(found.ids) + 1)
        return Slice(gen, found.count, found.ids[start:stop + 1], self.trips.writer)
