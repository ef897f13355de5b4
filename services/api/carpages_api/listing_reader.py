"""The one module that talks to Valkey for `GET /listing/`: every listing pipeline lives here.

Round trips on the common paths (cache hits): an ordered page = 1 read pipeline (meta check,
ZCARD, ZRANGE) + 1 HMGET of the cards; a reco page 1 = 1 read pipeline (meta check, the result
ZSET with popularity scores, the buyer's seen set) + the pin SET and the card HMGET, run
concurrently; a pinned reco page = 1 read pipeline (meta check, GETRANGE) + the card HMGET.
A missing result is composed in ONE MULTI on the primary that also returns what the request
needs. Reads go to `reader` (a replica when configured); writes always go to `writer`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from carpages_shared import keys

from carpages_api import composition, facets, pinning, slug_resolver
from carpages_api.composition import SENTINEL, SENTINEL_SCORE
from carpages_api.errors import ApiError
from carpages_api.generation import META_FIELDS, Generation
from carpages_api.listing_body import ListingPage
from carpages_api.listing_query import Filters, Limits, ListingQuery
from carpages_api.ranking import Ranker, Viewer

Pipeline = Any  # valkey.asyncio pipeline; untyped upstream
Gen = tuple[int, int]
Sliced = tuple[Gen, int, list[int]]
"""(generation read, total count, the page's ids)."""


def _ids(members: Iterable[bytes]) -> list[int]:
    return [int(m) for m in members if m != SENTINEL]


def _compose(pipe: Pipeline, plan: composition.Plan) -> None:
    """Queue the commands that (re)build one result key; the caller wraps them in MULTI."""
    for scratch, sources in plan.unions:
        pipe.sunionstore(scratch, list(sources))
    for scratch, source, lo, hi in plan.ranges:
        pipe.zrangestore(scratch, source, lo, hi, byscore=True)
    if plan.weights:
        pipe.zinterstore(plan.dest, plan.weights)
    else:
        pipe.delete(plan.dest)
    pipe.zadd(plan.dest, {SENTINEL: SENTINEL_SCORE})
    pipe.expire(plan.dest, keys.QUERY_TTL)
    if plan.scratch:
        pipe.delete(*plan.scratch)


class ListingReader:
    """Reads listing pages (and facets) for validated queries."""

    def __init__(self, reader: Any, writer: Any, generation: Generation, limits: Limits,
                 count: Callable[[str, str], None] | None = None) -> None:
        self.reader, self.writer, self.generation, self.limits = reader, writer, generation, limits
        self._count = count or (lambda kind, outcome: None)

    async def read(self, query: ListingQuery, buyer_id: int | None,
                   ranker: Ranker) -> ListingPage:
        """One page of the listing for this query and (verified) buyer."""
        filters = query.filters
        if query.slug:
            filters = filters.intersect(await self._slug(query.slug))
        start = (query.page_no - 1) * query.page_size
        stop = start + query.page_size - 1
        pin: str | None = None
        pending: list[Awaitable[Any]] = []
        if query.order_by == "reco":
            gen, count, ids, pin, store = await self._reco(query, filters, buyer_id, ranker,
                                                           start, stop)
            pending += [store] if store is not None else []
        else:
            gen, count, ids = await self._ordered(filters, query.order_by, start, stop)
        cards_job = self._cards(gen[0], ids)
        facets_job = self._facets(gen, filters, query.facets) if query.facets else None
        done = await asyncio.gather(cards_job, *([facets_job] if facets_job else []), *pending)
        pages = min(math.ceil(count / query.page_size), self.limits.max_pages(query.page_size))
        has_next = query.page_no < pages
        return ListingPage(
            count=count, page_count=pages, cards=done[0],
            next=query.link(query.page_no + 1, pin) if has_next else None,
            previous=query.link(query.page_no - 1, pin) if query.page_no > 1 else None,
            facets=done[1] if facets_job else None, personalised=query.order_by == "reco")

    # ------------------------------------------------------------------ plumbing
    async def _verified(self, reads: Callable[[Pipeline, int, int], None]) -> tuple[Gen, list[Any]]:
        """Run `reads` for the remembered generation with the meta check; retry once on change."""
        for attempt in (0, 1):
            gen = self.generation.current or (0, 0)
            pipe = self.reader.pipeline(transaction=False)
            pipe.hmget(keys.meta(), list(META_FIELDS))
            reads(pipe, *gen)
            meta, *rest = await pipe.execute()
            actual = self.generation.observe(meta)
            if actual is None:
                raise ApiError(503, "no listing build yet", None, {"Retry-After": "5"})
            if actual == gen or attempt == 1:
                return gen, rest
        raise AssertionError("unreachable")

    async def _slug(self, slug: str) -> Filters:
        tokens = slug_resolver.candidates(slug)
        raw = await self.reader.hmget(keys.slugs(), tokens) if tokens else []
        table = {t: r for t, r in zip(tokens, raw, strict=True) if r is not None}
        try:
            return slug_resolver.resolve(slug, table)
        except slug_resolver.UnknownToken as exc:
            raise ApiError(404, "unknown slug token", {"slug": slug, "token": exc.token}) from None

    async def _cards(self, build: int, ids: list[int]) -> list[bytes]:
        if not ids:
            return []
        raw = await self.reader.hmget(keys.cards(build), [str(i) for i in ids])
        # A car removed between the id lookup and here is skipped, not an error.
        return [card for card in raw if card is not None]

    # ------------------------------------------------------------------ newest / price
    async def _ordered(self, filters: Filters, order_by: str, start: int, stop: int) -> Sliced:
        key_order = composition.order_key(order_by)
        ascending = order_by == "price_asc"
        # The sentinel scores lowest: ascending pages skip index 0, descending ones end on it.
        lo, hi = (start + 1, stop + 1) if ascending else (start, stop)
        qhash = filters.digest()

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            key = keys.query_result(build, version, key_order, qhash)
            pipe.zcard(key)
            pipe.zrange(key, lo, hi, desc=not ascending)

        gen, (size, members) = await self._verified(reads)
        self._count("listing_result", "hit" if size else "miss")
        if not size:
            plan = composition.plan(*gen, filters, key_order)
            pipe = self.writer.pipeline(transaction=True)
            _compose(pipe, plan)
            pipe.zcard(plan.dest)
            pipe.zrange(plan.dest, lo, hi, desc=not ascending)
            *_, size, members = await pipe.execute()
        return gen, size - 1, _ids(members)

    # ------------------------------------------------------------------ reco
    async def _reco(self, query: ListingQuery, filters: Filters, buyer_id: int | None,
                    ranker: Ranker, start: int, stop: int
                    ) -> tuple[Gen, int, list[int], str | None, Awaitable[Any] | None]:
        # The bare `buyer_id=` param personalises the model's order only; the seen set (private)
        # is read for a token-verified buyer alone.
        viewer = Viewer(buyer_id=buyer_id or query.buyer_id, seen_ids=query.seen_car_ids)
        qhash = filters.digest()
        if query.pin:
            hit = await self._pinned(query.pin, qhash, viewer, start, stop)
            self._count("listing_pin", "hit" if hit else "miss")
            if hit is not None:
                return (*hit, query.pin, None)

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            pipe.zrange(keys.query_result(build, version, "reco", qhash), 0, -1, withscores=True)
            if buyer_id is not None:
                pipe.smembers(keys.buyer_seen(buyer_id))

        gen, found = await self._verified(reads)
        members = found[0]
        self._count("listing_result", "hit" if members else "miss")
        if not members:
            plan = composition.plan(*gen, filters, "reco")
            pipe = self.writer.pipeline(transaction=True)
            _compose(pipe, plan)
            pipe.zrange(plan.dest, 0, -1, withscores=True)
            members = (await pipe.execute())[-1]
        popularity = {int(m): float(s) for m, s in members if m != SENTINEL}
        seen = set(query.seen_car_ids) | {int(c) for c in (found[1] if buyer_id else ())}
        ranked = ranker.rank(list(popularity), viewer, popularity)
        order = pinning.snapshot(ranked, popularity, seen)
        if len(order) <= query.page_size and query.page_no == 1:
            return gen, len(order), order[start:stop + 1], None, None
        pin = pinning.new_pin(ranker.version)
        key = keys.pinned_order(pin.rsplit(".", 1)[0], pinning.pin_id(pin, qhash, viewer))
        store = self.writer.set(key, pinning.pack(order, self.limits.page_window),
                                ex=keys.PIN_TTL)
        return gen, len(order), order[start:stop + 1], pin, store

    async def _pinned(self, pin: str, qhash: str, viewer: Viewer, start: int,
                      stop: int) -> Sliced | None:
        parsed = pinning.parse_pin(pin)
        if parsed is None:
            return None
        key = keys.pinned_order(parsed[0], pinning.pin_id(pin, qhash, viewer))
        lo, hi = pinning.byte_range(start, stop)

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            pipe.getrange(key, 0, pinning.HEADER_BYTES - 1)
            pipe.getrange(key, lo, hi)

        gen, (head, body) = await self._verified(reads)
        if pinning.unpack_count(head) is None and self.writer is not self.reader:
            # Written a moment ago on the primary; the replica may not have it yet.
            pipe = self.writer.pipeline(transaction=False)
            pipe.getrange(key, 0, pinning.HEADER_BYTES - 1)
            pipe.getrange(key, lo, hi)
            head, body = await pipe.execute()
        count = pinning.unpack_count(head)
        return None if count is None else (gen, count, pinning.unpack_ids(body))

    # ------------------------------------------------------------------ facets
    async def _facets(self, gen: Gen, filters: Filters, names: tuple[str, ...]) -> bytes:
        build, version = gen
        cache = {n: keys.facet_counts(build, version, facets.cache_hash(filters, n))
                 for n in names}
        listed = [n for n in names if n not in facets.BUCKETS]
        pipe = self.reader.pipeline(transaction=False)
        for name in names:
            pipe.get(cache[name])
        for name in listed:
            pipe.smembers(keys.set_values(build, facets.INDEX_FIELDS[name]))
        found = await pipe.execute()
        bodies: dict[str, bytes] = {n: b for n, b in zip(names, found, strict=False) if b}
        values = {n: sorted(v.decode() for v in raw)
                  for n, raw in zip(listed, found[len(names):], strict=True)}
        missing = [n for n in names if n not in bodies]
        self._count("listing_facets", "miss" if missing else "hit")
        if missing:
            counted = await self._count_facets(gen, filters, missing, values)
            pipe = self.writer.pipeline(transaction=False)
            for name, body in counted.items():
                bodies[name] = body
                pipe.set(cache[name], body, ex=keys.QUERY_TTL)
            await pipe.execute()
        return facets.splice([(n, bodies[n]) for n in names])

    async def _count_facets(self, gen: Gen, filters: Filters, names: list[str],
                            values: dict[str, list[str]]) -> dict[str, bytes]:
        """Compose each base (and bucket) result and count intersections, in ONE MULTI."""
        pipe = self.writer.pipeline(transaction=True)
        composed: set[str] = set()

        def ensure(subset: Filters) -> str:
            plan = composition.plan(*gen, subset, "reco")
            if plan.dest not in composed:
                composed.add(plan.dest)
                _compose(pipe, plan)
            return plan.dest

        # (facet, value label, the two keys to intersect, members to discount); every compose
        # is queued before the first count, so the counts are the MULTI's trailing replies.
        jobs: list[tuple[str, str, str, str, int]] = []
        for name in names:
            base_key = ensure(facets.base(filters, name))
            if name in facets.BUCKETS:
                for lo, hi in facets.BUCKETS[name]:
                    bucket_key = ensure(facets.bucket_filters(name, lo, hi))
                    jobs.append((name, facets.label(lo, hi), base_key, bucket_key, 1))
            else:
                field = facets.INDEX_FIELDS[name]
                jobs += [(name, value, base_key, keys.set_index(gen[0], field, value), 0)
                         for value in values[name]]
        for _, _, one, other, _ in jobs:
            pipe.zintercard(2, [one, other])
        results = await pipe.execute()
        counts: dict[str, dict[str, int]] = {n: {} for n in names}
        for (name, value, _, _, discount), raw in zip(jobs, results[len(results) - len(jobs):],
                                                      strict=True):
            counts[name][value] = int(raw) - discount  # both bucket keys hold the sentinel
        return {n: facets.encode(n, c) for n, c in counts.items()}
