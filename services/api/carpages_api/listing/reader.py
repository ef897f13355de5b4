"""`GET /listing/`: one page for a validated query — the slug resolved, the order's path
(ordered, reco_path) read, then the cards, facets and pin write (round trips: round_trips).

Round trips. Every read pipeline starts with the meta check (HMGET meta build version) and names
its keys with the remembered (build, version); a changed meta retries once with the new one.
- Warm (the ids are in process memory, listing.cache): ONE pipeline — the meta check and the
  HMGET of the page's cards. Used by ordered pages whose result window is cached, reco pages
  whose viewer's order is cached, and pinned pages this process wrote (plus an EXISTS of the pin).
- Cold: the meta check with the result (ordered: ZCARD + the window's ZRANGE + PTTL; reco: the
  whole result with popularity scores + PTTL, and a signed-in buyer's seen set; pinned: two
  GETRANGEs), then the card HMGET — with the pin SET, when one is due, run concurrently.
A missing result is composed in ONE MULTI on the primary that also returns what the request
needs.

Replicas: each request reads from one reader (a replica when configured, picked per request by
store.clients.Readers), so its meta check and the keys it names come from one server's view.
Writes — compositions, facet counts, pins — always go to the primary (`writer`), in MULTIs run by
SlotTransactions (valid on Valkey Cluster too: every key shares `{cp}`). A request that composed
a result reads the rest (cards, a pinned order) from the primary: the replica may not have the
composed key yet, and the ids came from the primary's state (such a result is not copied into
process memory either, so a later request reads it from its own replica). The composition is
named by the replica's (build, version); if the primary has already switched to another build,
the request is served from the primary instead, so a lagging replica never makes a composition
read a retired build.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from typing import Any

from carpages_shared import keys

from carpages_api.errors import ApiError
from carpages_api.listing import slug_resolver
from carpages_api.listing.body import ListingPage
from carpages_api.listing.cache import SLUG_MEMO_S
from carpages_api.listing.facet_reader import FacetReader
from carpages_api.listing.generation import Generation
from carpages_api.listing.ordered import OrderedPath
from carpages_api.listing.query import Filters, Limits, ListingQuery
from carpages_api.listing.reco_path import RecoPath
from carpages_api.listing.round_trips import Count, RoundTrips
from carpages_api.listing.slice import Behind, Slice
from carpages_api.reco.ranking import Ranker
from carpages_api.store.clients import Readers, ValkeyClient
from carpages_api.store.slot_transactions import SlotTransactions


class ListingReader:
    """Reads listing pages (and facets) for validated queries."""

    def __init__(self, readers: Readers, transactions: SlotTransactions, generation: Generation,
                 limits: Limits, count: Count | None = None) -> None:
        trips = self.trips = RoundTrips(readers, transactions, generation, limits, count)
        self.readers, self.writer, self.generation = readers, trips.writer, generation
        self.limits, self.count, self.cache = limits, trips.count, trips.cache
        self.facets = FacetReader(trips.writer, trips.on_primary, trips.count, trips.cache.facets,
                                  trips.composing)
        self.ordered = OrderedPath(trips)
        self.reco = RecoPath(trips)

    async def read(self, query: ListingQuery, buyer_id: int | None,
                   ranker: Ranker) -> ListingPage:
        """One page of the listing for this query and (verified) buyer."""

        async def on(reader: ValkeyClient) -> ListingPage:
            try:
                return await self._read_slugged(reader, query, buyer_id, ranker)
            except Behind:
                return await self._read_slugged(self.writer, query, buyer_id, ranker)

        return await self.readers.run(on)

    async def _read_slugged(self, reader: ValkeyClient, query: ListingQuery, buyer_id: int | None,
                            ranker: Ranker) -> ListingPage:
        """`_read`, with a slug resolved from the memo when its map token is the latest seen.

        The page's own meta check returns the token too: if it moved, the page may have used
        a retired map, so the slug is resolved again from Valkey and the page read again."""
        if not query.slug:
            return await self._read(reader, query, query.filters, buyer_id, ranker)
        token = self.generation.slugs
        memo = self.cache.slugs.get((query.slug, token)) if token is not None else None
        if memo is not None:
            page = await self._read(reader, query, query.filters.intersect(memo), buyer_id,
                                    ranker)
            if self.generation.slugs == token:
                self.count("listing_slug", "hit")
                return page
        self.count("listing_slug", "miss")
        filters = query.filters.intersect(await self._slug(reader, query.slug))
        return await self._read(reader, query, filters, buyer_id, ranker)

    async def _read(self, reader: ValkeyClient, query: ListingQuery, filters: Filters,
                    buyer_id: int | None, ranker: Ranker) -> ListingPage:
        start = (query.page_no - 1) * query.page_size
        stop = start + query.page_size - 1
        if query.page_no > self.limits.max_pages(query.page_size):
            # Past the last page the window holds (page 29 of 35 would start inside it): empty,
            # like a page past the last result, so page_count is the last page with cards.
            start, stop = self.limits.page_window, self.limits.page_window - 1
        if query.order_by == "reco":
            found = await self.reco.read(reader, query, filters, buyer_id, ranker, start, stop)
        else:
            found = await self.ordered.read(reader, filters, query.order_by, start, stop)
        cards = found.cards
        facets = None
        if cards is None or query.facets or found.write is not None:
            cards, facets = await self._rest(reader, found, filters, query.facets)
        pages = min(math.ceil(found.count / query.page_size),
                    self.limits.max_pages(query.page_size))
        has_next = query.page_no < pages
        return ListingPage(
            count=found.count, page_count=pages, cards=cards,
            next=query.link(query.page_no + 1, found.pin) if has_next else None,
            previous=query.link(query.page_no - 1, found.pin) if query.page_no > 1 else None,
            facets=facets, personalised=query.order_by == "reco")

    async def _rest(self, reader: ValkeyClient, found: Slice, filters: Filters,
                    names: tuple[str, ...]) -> tuple[list[bytes], bytes | None]:
        """The cards (unless already read), the facets and the pin write, concurrently."""
        jobs: list[Awaitable[Any]] = []
        if found.cards is None:
            jobs.append(self.trips.cards(found.source, found.gen[0], found.ids))
        if names:
            jobs.append(self.facets.read(reader, found.gen, filters, names))
        if found.write is not None:
            jobs.append(found.write)
        done = list(await asyncio.gather(*jobs)) if len(jobs) > 1 else [await jobs[0]]
        cards = found.cards if found.cards is not None else done.pop(0)
        return cards, done[0] if names else None

    async def _slug(self, reader: ValkeyClient, slug: str) -> Filters:
        tokens = slug_resolver.candidates(slug)
        # The map's token first: a map replaced between the two reads is then remembered
        # under the older token, which no later meta check matches (never the reverse).
        pipe = reader.pipeline(transaction=False)
        pipe.hget(keys.meta(), "slugs")
        if tokens:
            pipe.hmget(keys.slugs(), tokens)
        map_token, *rest = await self.trips.batches.run(reader, pipe)
        raw = rest[0] if tokens else []
        table = {t: r for t, r in zip(tokens, raw, strict=True) if r is not None}
        try:
            filters = slug_resolver.resolve(slug, table)
        except slug_resolver.UnknownToken as exc:
            if reader is not self.writer:
                raise Behind from None  # the primary decides: the replica may lack a new token
            raise ApiError(404, "unknown slug token", {"slug": slug, "token": exc.token}) from None
        if map_token is not None:
            key = (slug, map_token.encode() if isinstance(map_token, str) else map_token)
            self.cache.slugs.put(key, filters, time.monotonic() + SLUG_MEMO_S)
        return filters
