"""The one module that talks to Valkey for `GET /listing/` (reco paths: listing_reco; facet
counts: facet_reader).

Round trips. Every read pipeline starts with the meta check (HMGET meta build version) and names
its keys with the remembered (build, version); a changed meta retries once with the new one.
- Warm (the ids are in process memory, listing_cache): ONE pipeline — the meta check and the
  HMGET of the page's cards. Used by ordered pages whose result window is cached, reco pages
  whose viewer's order is cached, and pinned pages this process wrote (plus an EXISTS of the pin).
- Cold: the meta check with the result (ordered: ZCARD + the window's ZRANGE + PTTL; reco: the
  whole result with popularity scores + PTTL, and a signed-in buyer's seen set; pinned: two
  GETRANGEs), then the card HMGET — with the pin SET, when one is due, run concurrently.
A missing result is composed in ONE MULTI on the primary that also returns what the request
needs.

Replicas: each request reads from one reader (a replica when configured, picked per request by
valkey_clients.Readers), so its meta check and the keys it names come from one server's view.
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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from carpages_shared import keys

from carpages_api import composition, slug_resolver
from carpages_api.errors import ApiError
from carpages_api.facet_reader import FacetReader
from carpages_api.generation import META_FIELDS, Generation
from carpages_api.listing_body import ListingPage
from carpages_api.listing_cache import SLUG_MEMO_S, ListingCache, Window, deadline
from carpages_api.listing_query import Filters, Limits, ListingQuery
from carpages_api.listing_reco import RecoPath
from carpages_api.listing_slice import Behind, Gen, Slice, ids_of, present
from carpages_api.ranking import Ranker
from carpages_api.slot_transactions import SlotTransactions
from carpages_api.valkey_batch import Batches
from carpages_api.valkey_clients import Readers

Pipeline = Any  # valkey.asyncio pipeline; untyped upstream


class ListingReader:
    """Reads listing pages (and facets) for validated queries."""

    def __init__(self, readers: Readers, transactions: SlotTransactions, generation: Generation,
                 limits: Limits, count: Callable[[str, str], None] | None = None) -> None:
        self.readers, self.transactions = readers, transactions
        self.writer = readers.primary
        self.generation, self.limits = generation, limits
        self.count = count or (lambda kind, outcome: None)
        self.cache = ListingCache()
        self.batches = Batches()
        generation.on_reset = self.cache.clear
        self.facets = FacetReader(self.writer, self.on_primary, self.count, self.cache.facets)
        self.reco = RecoPath(self)

    async def read(self, query: ListingQuery, buyer_id: int | None,
                   ranker: Ranker) -> ListingPage:
        """One page of the listing for this query and (verified) buyer."""

        async def on(reader: Any) -> ListingPage:
            try:
                return await self._read_slugged(reader, query, buyer_id, ranker)
            except Behind:
                return await self._read_slugged(self.writer, query, buyer_id, ranker)

        return await self.readers.run(on)

    async def _read_slugged(self, reader: Any, query: ListingQuery, buyer_id: int | None,
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

    async def _read(self, reader: Any, query: ListingQuery, filters: Filters,
                    buyer_id: int | None, ranker: Ranker) -> ListingPage:
        start = (query.page_no - 1) * query.page_size
        stop = start + query.page_size - 1
        if query.order_by == "reco":
            found = await self.reco.read(reader, query, filters, buyer_id, ranker, start, stop)
        else:
            found = await self._ordered(reader, filters, query.order_by, start, stop)
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

    async def _rest(self, reader: Any, found: Slice, filters: Filters,
                    names: tuple[str, ...]) -> tuple[list[bytes], bytes | None]:
        """The cards (unless already read), the facets and the pin write, concurrently."""
        jobs: list[Awaitable[Any]] = []
        if found.cards is None:
            jobs.append(self._cards(found.source, found.gen[0], found.ids))
        if names:
            jobs.append(self.facets.read(reader, found.gen, filters, names))
        if found.write is not None:
            jobs.append(found.write)
        done = list(await asyncio.gather(*jobs)) if len(jobs) > 1 else [await jobs[0]]
        cards = found.cards if found.cards is not None else done.pop(0)
        return cards, done[0] if names else None

    # ------------------------------------------------------------------ plumbing
    async def verified(self, reader: Any, reads: Callable[[Pipeline, int, int], None]
                       ) -> tuple[Gen, list[Any]]:
        """Run `reads` for the remembered generation with the meta check; retry once on change.

        `reads` is called again for the retry, so it must queue from scratch each time."""
        for attempt in (0, 1):
            gen = self.generation.current or (0, 0)
            pipe = reader.pipeline(transaction=False)
            pipe.hmget(keys.meta(), META_FIELDS)
            reads(pipe, *gen)
            meta, *rest = await self.batches.run(reader, pipe)
            actual = self.generation.observe(meta)
            if actual is None and reader is not self.writer:
                raise Behind  # a replica still loading its first sync
            if actual is None:
                raise ApiError(503, "no listing build yet", None, {"Retry-After": "5"})
            if actual == gen or attempt == 1:
                return gen, rest
        raise AssertionError("unreachable")

    async def on_primary(self, reader: Any, gen: Gen, key: str,
                         queue: Callable[[Pipeline], None]) -> list[Any]:
        """Run `queue` in one MULTI on the primary and return its replies; when the request's
        reader is a replica, the primary must still be at `gen`'s build (else Behind)."""

        def with_meta(pipe: Pipeline) -> None:
            pipe.hget(keys.meta(), "build")
            queue(pipe)

        build, *replies = await self.transactions.execute(key, with_meta)
        if reader is not self.writer and (build is None or int(build) != gen[0]):
            raise Behind
        return replies

    async def _slug(self, reader: Any, slug: str) -> Filters:
        tokens = slug_resolver.candidates(slug)
        # The map's token first: a map replaced between the two reads is then remembered
        # under the older token, which no later meta check matches (never the reverse).
        pipe = reader.pipeline(transaction=False)
        pipe.hget(keys.meta(), "slugs")
        if tokens:
            pipe.hmget(keys.slugs(), tokens)
        map_token, *rest = await self.batches.run(reader, pipe)
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

    async def _cards(self, source: Any, build: int, ids: Sequence[int | bytes]) -> list[bytes]:
        if not ids:
            return []
        pipe = source.pipeline(transaction=False)
        pipe.hmget(keys.cards(build), ids)
        raw, = await self.batches.run(source, pipe)
        return present(raw)

    # ------------------------------------------------------------------ newest / price
    async def _ordered(self, reader: Any, filters: Filters, order_by: str, start: int,
                       stop: int) -> Slice:
        key_order = composition.order_key(order_by)
        ascending = order_by == "price_asc"
        window = self.limits.page_window
        # The sentinel scores lowest: ascending windows skip index 0, descending ones may end
        # on it (ids_of drops it).
        lo, hi = (1, window) if ascending else (0, window - 1)
        qhash = filters.digest()
        cached: list[Window | None] = [None]
        started = time.monotonic()

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            key = keys.query_result(build, version, key_order, qhash)
            hit = self.cache.results.get((key, ascending))
            cached[0] = hit if isinstance(hit, Window) else None
            if cached[0] is not None:
                if start < len(cached[0].ids):
                    pipe.hmget(keys.cards(build), cached[0].ids[start:stop + 1])
                return
            pipe.zcard(key)
            pipe.zrange(key, lo, hi, desc=not ascending)
            pipe.pttl(key)

        gen, replies = await self.verified(reader, reads)
        hit = cached[0]
        if hit is not None:
            self.count("listing_result", "hit")
            ids = hit.ids[start:stop + 1]
            return Slice(gen, hit.count, ids, reader, present(replies[0]) if ids else [])
        size, members, pttl = replies
        self.count("listing_result", "hit" if size else "miss")
        key = keys.query_result(*gen, key_order, qhash)
        if size:
            found = Window(size - 1, ids_of(members))
            until = deadline(started, pttl, keys.QUERY_TTL)
            if until is not None:
                self.cache.results.put((key, ascending), found, until, len(found.ids) + 1)
            return Slice(gen, found.count, found.ids[start:stop + 1], reader)
        plan = composition.plan(*gen, filters, key_order)

        def queue(pipe: Pipeline) -> None:
            composition.queue(pipe, plan)
            pipe.zcard(plan.dest)
            pipe.zrange(plan.dest, lo, hi, desc=not ascending)

        started = time.monotonic()
        *_, size, members = await self.on_primary(reader, gen, plan.dest, queue)
        found = Window(size - 1, ids_of(members))
        if reader is self.writer:
            self.cache.results.put((key, ascending), found, started + keys.QUERY_TTL,
                                   len(found.ids) + 1)
        return Slice(gen, found.count, found.ids[start:stop + 1], self.writer)
