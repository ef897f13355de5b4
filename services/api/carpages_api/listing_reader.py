"""The one module that talks to Valkey for `GET /listing/` (facet counts: facet_reader).

Round trips on the common paths (cache hits): an ordered page = 1 read pipeline (meta check,
ZCARD, ZRANGE) + 1 HMGET of the cards; a reco page 1 = 1 read pipeline (meta check, the result
ZSET with popularity scores, the buyer's seen set) + the pin SET and the card HMGET, run
concurrently; a pinned reco page = 1 read pipeline (meta check, GETRANGE) + the card HMGET.
A missing result is composed in ONE MULTI on the primary that also returns what the request
needs.

Replicas: each request reads from one reader (a replica when configured, picked per request by
valkey_clients.Readers), so its meta check and the keys it names come from one server's view.
Writes — compositions, facet counts, pins — always go to the primary (`writer`), in MULTIs run by
SlotTransactions (valid on Valkey Cluster too: every key shares `{cp}`). A request that composed
a result reads the rest (cards, a pinned order) from the primary: the replica may not have the
composed key yet, and the ids came from the primary's state. The composition is named by the
replica's (build, version); if the primary has already switched to another build, the request
is served from the primary instead, so a lagging replica never makes a composition read a
retired build.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from carpages_shared import keys

from carpages_api import composition, pinning, slug_resolver
from carpages_api.composition import SENTINEL
from carpages_api.errors import ApiError
from carpages_api.facet_reader import FacetReader
from carpages_api.generation import META_FIELDS, Generation
from carpages_api.listing_body import ListingPage
from carpages_api.listing_query import Filters, Limits, ListingQuery
from carpages_api.ranking import Ranker, Viewer
from carpages_api.slot_transactions import SlotTransactions
from carpages_api.valkey_clients import Readers

Pipeline = Any  # valkey.asyncio pipeline; untyped upstream
Gen = tuple[int, int]
Sliced = tuple[Gen, int, list[int], Any]
"""(generation read, total count, the page's ids, the client to read their cards from)."""


class _Behind(Exception):
    """The request's replica still names a build the primary has switched away from."""


def _ids(members: Iterable[bytes]) -> list[int]:
    return [int(m) for m in members if m != SENTINEL]


class ListingReader:
    """Reads listing pages (and facets) for validated queries."""

    def __init__(self, readers: Readers, transactions: SlotTransactions, generation: Generation,
                 limits: Limits, count: Callable[[str, str], None] | None = None) -> None:
        self.readers, self.transactions = readers, transactions
        self.writer = readers.primary
        self.generation, self.limits = generation, limits
        self._count = count or (lambda kind, outcome: None)
        self.facets = FacetReader(self.writer, self._on_primary, self._count)

    async def read(self, query: ListingQuery, buyer_id: int | None,
                   ranker: Ranker) -> ListingPage:
        """One page of the listing for this query and (verified) buyer."""

        async def on(reader: Any) -> ListingPage:
            try:
                return await self._read(reader, query, buyer_id, ranker)
            except _Behind:
                return await self._read(self.writer, query, buyer_id, ranker)

        return await self.readers.run(on)

    async def _read(self, reader: Any, query: ListingQuery, buyer_id: int | None,
                    ranker: Ranker) -> ListingPage:
        filters = query.filters
        if query.slug:
            filters = filters.intersect(await self._slug(reader, query.slug))
        start = (query.page_no - 1) * query.page_size
        stop = start + query.page_size - 1
        pin: str | None = None
        pending: list[Awaitable[Any]] = []
        if query.order_by == "reco":
            (gen, count, ids, source), pin, store = await self._reco(
                reader, query, filters, buyer_id, ranker, start, stop)
            pending += [store] if store is not None else []
        else:
            gen, count, ids, source = await self._ordered(reader, filters, query.order_by,
                                                          start, stop)
        cards_job = self._cards(source, gen[0], ids)
        facets_job = (self.facets.read(reader, gen, filters, query.facets) if query.facets
                      else None)
        done = await asyncio.gather(cards_job, *([facets_job] if facets_job else []), *pending)
        pages = min(math.ceil(count / query.page_size), self.limits.max_pages(query.page_size))
        has_next = query.page_no < pages
        return ListingPage(
            count=count, page_count=pages, cards=done[0],
            next=query.link(query.page_no + 1, pin) if has_next else None,
            previous=query.link(query.page_no - 1, pin) if query.page_no > 1 else None,
            facets=done[1] if facets_job else None, personalised=query.order_by == "reco")

    # ------------------------------------------------------------------ plumbing
    async def _verified(self, reader: Any, reads: Callable[[Pipeline, int, int], None]
                        ) -> tuple[Gen, list[Any]]:
        """Run `reads` for the remembered generation with the meta check; retry once on change."""
        for attempt in (0, 1):
            gen = self.generation.current or (0, 0)
            pipe = reader.pipeline(transaction=False)
            pipe.hmget(keys.meta(), list(META_FIELDS))
            reads(pipe, *gen)
            meta, *rest = await pipe.execute()
            actual = self.generation.observe(meta)
            if actual is None and reader is not self.writer:
                raise _Behind  # a replica still loading its first sync
            if actual is None:
                raise ApiError(503, "no listing build yet", None, {"Retry-After": "5"})
            if actual == gen or attempt == 1:
                return gen, rest
        raise AssertionError("unreachable")

    async def _on_primary(self, reader: Any, gen: Gen, key: str,
                          queue: Callable[[Pipeline], None]) -> list[Any]:
        """Run `queue` in one MULTI on the primary and return its replies; when the request's
        reader is a replica, the primary must still be at `gen`'s build (else _Behind)."""

        def with_meta(pipe: Pipeline) -> None:
            pipe.hget(keys.meta(), "build")
            queue(pipe)

        build, *replies = await self.transactions.execute(key, with_meta)
        if reader is not self.writer and (build is None or int(build) != gen[0]):
            raise _Behind
        return replies

    async def _slug(self, reader: Any, slug: str) -> Filters:
        tokens = slug_resolver.candidates(slug)
        raw = await reader.hmget(keys.slugs(), tokens) if tokens else []
        table = {t: r for t, r in zip(tokens, raw, strict=True) if r is not None}
        try:
            return slug_resolver.resolve(slug, table)
        except slug_resolver.UnknownToken as exc:
            if reader is not self.writer:
                raise _Behind from None  # the primary decides: the replica may lack a new token
            raise ApiError(404, "unknown slug token", {"slug": slug, "token": exc.token}) from None

    async def _cards(self, source: Any, build: int, ids: list[int]) -> list[bytes]:
        if not ids:
            return []
        raw = await source.hmget(keys.cards(build), [str(i) for i in ids])
        # A car removed between the id lookup and here is skipped, not an error.
        return [card for card in raw if card is not None]

    # ------------------------------------------------------------------ newest / price
    async def _ordered(self, reader: Any, filters: Filters, order_by: str, start: int,
                       stop: int) -> Sliced:
        key_order = composition.order_key(order_by)
        ascending = order_by == "price_asc"
        # The sentinel scores lowest: ascending pages skip index 0, descending ones end on it.
        lo, hi = (start + 1, stop + 1) if ascending else (start, stop)
        qhash = filters.digest()

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            key = keys.query_result(build, version, key_order, qhash)
            pipe.zcard(key)
            pipe.zrange(key, lo, hi, desc=not ascending)

        gen, (size, members) = await self._verified(reader, reads)
        self._count("listing_result", "hit" if size else "miss")
        if size:
            return gen, size - 1, _ids(members), reader
        plan = composition.plan(*gen, filters, key_order)

        def queue(pipe: Pipeline) -> None:
            composition.queue(pipe, plan)
            pipe.zcard(plan.dest)
            pipe.zrange(plan.dest, lo, hi, desc=not ascending)

        *_, size, members = await self._on_primary(reader, gen, plan.dest, queue)
        return gen, size - 1, _ids(members), self.writer

    # ------------------------------------------------------------------ reco
    async def _reco(self, reader: Any, query: ListingQuery, filters: Filters,
                    buyer_id: int | None, ranker: Ranker, start: int, stop: int
                    ) -> tuple[Sliced, str | None, Awaitable[Any] | None]:
        # The bare `buyer_id=` param personalises the model's order only; the seen set (private)
        # is read for a token-verified buyer alone.
        viewer = Viewer(buyer_id=buyer_id or query.buyer_id, seen_ids=query.seen_car_ids)
        qhash = filters.digest()
        if query.pin:
            hit = await self._pinned(reader, query.pin, qhash, viewer, start, stop)
            self._count("listing_pin", "hit" if hit else "miss")
            if hit is not None:
                return hit, query.pin, None

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            pipe.zrange(keys.query_result(build, version, "reco", qhash), 0, -1, withscores=True)
            if buyer_id is not None:
                pipe.smembers(keys.buyer_seen(buyer_id))

        gen, found = await self._verified(reader, reads)
        members = found[0]
        self._count("listing_result", "hit" if members else "miss")
        source = reader
        if not members:
            plan = composition.plan(*gen, filters, "reco")

            def queue(pipe: Pipeline) -> None:
                composition.queue(pipe, plan)
                pipe.zrange(plan.dest, 0, -1, withscores=True)

            members = (await self._on_primary(reader, gen, plan.dest, queue))[-1]
            source = self.writer
        popularity = {int(m): float(s) for m, s in members if m != SENTINEL}
        seen = set(query.seen_car_ids) | {int(c) for c in (found[1] if buyer_id else ())}
        ranked = ranker.rank(list(popularity), viewer, popularity)
        order = pinning.snapshot(ranked, popularity, seen)
        if len(order) <= query.page_size and query.page_no == 1:
            return (gen, len(order), order[start:stop + 1], source), None, None
        pin = pinning.new_pin(ranker.version)
        key = keys.pinned_order(pin.rsplit(".", 1)[0], pinning.pin_id(pin, qhash, viewer))
        store = self.writer.set(key, pinning.pack(order, self.limits.page_window),
                                ex=keys.PIN_TTL)
        return (gen, len(order), order[start:stop + 1], source), pin, store

    async def _pinned(self, reader: Any, pin: str, qhash: str, viewer: Viewer, start: int,
                      stop: int) -> Sliced | None:
        parsed = pinning.parse_pin(pin)
        if parsed is None:
            return None
        key = keys.pinned_order(parsed[0], pinning.pin_id(pin, qhash, viewer))
        lo, hi = pinning.byte_range(start, stop)

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            pipe.getrange(key, 0, pinning.HEADER_BYTES - 1)
            pipe.getrange(key, lo, hi)

        gen, (head, body) = await self._verified(reader, reads)
        source = reader
        if pinning.unpack_count(head) is None and reader is not self.writer:
            # Written a moment ago on the primary; the replica may not have it yet. Its ids may
            # be newer than the replica's cards too, so they are read from the primary as well.
            pipe = self.writer.pipeline(transaction=False)
            pipe.getrange(key, 0, pinning.HEADER_BYTES - 1)
            pipe.getrange(key, lo, hi)
            head, body = await pipe.execute()
            source = self.writer
        count = pinning.unpack_count(head)
        return None if count is None else (gen, count, pinning.unpack_ids(body), source)
