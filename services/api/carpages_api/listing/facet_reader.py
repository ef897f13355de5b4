"""Facet counts of a listing request: cached per query; on a miss, counted on the primary.

Bodies are kept in process memory by key name (listing.cache: the name carries the build, the
version and the facet's filters; a copy expires with its key), so a warm request reads nothing.
Other bodies, and the value lists of facets still to count, are read from the request's reader.
Missing counts are composed and counted in ONE MULTI on the primary (through the listing
reader's `on_primary`, which also checks a replica's build is still current there) and cached
for QUERY_TTL. One process counts one set of missing facets once at a time (`composing`, the
listing's single flight): at 100,000 cars one count costs Valkey hundreds of milliseconds, and
concurrent misses each counting queued Valkey far past the API's timeout (the bench's facets
listing at 100k answered 48 req/s with 96 errors). The others wait and then read what the first
stored.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from carpages_shared import keys

from carpages_api.listing import composition, facets
from carpages_api.listing.cache import Lru, deadline
from carpages_api.listing.instance_memo import InstanceMemo
from carpages_api.listing.query import Filters
from carpages_api.store.clients import Pipeline, ValkeyClient

Gen = tuple[int, int]
OnPrimary = Callable[[Any, Gen, str, Callable[[Pipeline], None]], Awaitable[list[Any]]]
"""(request reader, generation, a key of the slot, queue commands) -> the MULTI's replies."""
Composing = Callable[[str], AbstractAsyncContextManager[bool]]
"""Single flight by key: True for the request that does the work, False for the ones that
waited for it (see RoundTrips.composing)."""


class FacetReader:
    """Reads and counts facets for the listing reader."""

    def __init__(self, writer: ValkeyClient, on_primary: OnPrimary,
                 count: Callable[[str, str], None], kept: Lru[str, bytes] | None = None,
                 composing: Composing | None = None) -> None:
        self.writer, self.on_primary, self._count = writer, on_primary, count
        self.composing = composing
        self.kept: Lru[str, bytes] = kept if kept is not None else Lru(0)
        # Each facet's cache hash copies and hashes the filters: once per parsed query.
        self._hashes = InstanceMemo(4096)

    async def read(self, reader: ValkeyClient, gen: Gen, filters: Filters,
                   names: tuple[str, ...]) -> bytes:
        """The facets JSON object: cached bodies, the missing ones counted (and cached)."""
        build, version = gen
        hashes: dict[str, str] = self._hashes.get(filters, "facet-hashes", dict)
        cache = {}
        for name in names:
            found = hashes.get(name)
            if found is None:
                found = hashes[name] = facets.cache_hash(filters, name)
            cache[name] = keys.facet_counts(build, version, found)
        bodies: dict[str, bytes] = {}
        self._kept(cache, list(names), bodies)
        unknown = [n for n in names if n not in bodies]
        if not unknown:
            self._count("listing_facets", "hit")
        elif self.composing is None:
            await self._fill(reader, gen, filters, cache, unknown, bodies)
        else:
            async with self.composing("|".join(cache[n] for n in unknown)) as first:
                if not first:
                    # Another request of this process has just read or counted them.
                    self._kept(cache, unknown, bodies)
                    unknown = [n for n in names if n not in bodies]
                if unknown:
                    await self._fill(reader, gen, filters, cache, unknown, bodies)
                else:
                    self._count("listing_facets", "hit")
        return facets.splice([(n, bodies[n]) for n in names])

    def _kept(self, cache: dict[str, str], names: list[str], bodies: dict[str, bytes]) -> None:
        for name in names:
            body = self.kept.get(cache[name])
            if body is not None:
                bodies[name] = body

    async def _fill(self, reader: ValkeyClient, gen: Gen, filters: Filters, cache: dict[str, str],
                    unknown: list[str], bodies: dict[str, bytes]) -> None:
        """Read the `unknown` bodies from Valkey; count the ones it lacks; keep all of them."""
        listed = [n for n in unknown if n not in facets.BUCKETS]
        started = time.monotonic()
        pipe = reader.pipeline(transaction=False)
        for name in unknown:
            pipe.get(cache[name])
            pipe.pttl(cache[name])
        for name in listed:
            pipe.smembers(keys.set_values(gen[0], facets.INDEX_FIELDS[name]))
        found = await pipe.execute()
        for i, name in enumerate(unknown):
            body, pttl = found[2 * i], found[2 * i + 1]
            until = deadline(started, pttl, keys.QUERY_TTL)
            if body:
                bodies[name] = body
                if until is not None:
                    self.kept.put(cache[name], body, until, len(body))
        values = {n: sorted(v.decode() for v in raw)
                  for n, raw in zip(listed, found[2 * len(unknown):], strict=True)}
        missing = [n for n in unknown if n not in bodies]
        self._count("listing_facets", "miss" if missing else "hit")
        if missing:
            counted = await self._counted(reader, gen, filters, missing, values)
            started = time.monotonic()
            pipe = self.writer.pipeline(transaction=False)
            for name, body in counted.items():
                bodies[name] = body
                pipe.set(cache[name], body, ex=keys.QUERY_TTL)
            await pipe.execute()
            for name, body in counted.items():
                self.kept.put(cache[name], body, started + keys.QUERY_TTL, len(body))

    async def _counted(self, reader: ValkeyClient, gen: Gen, filters: Filters, names: list[str],
                       values: dict[str, list[str]]) -> dict[str, bytes]:
        """Compose each base (and bucket) result and count intersections, in ONE MULTI."""
        composed: set[str] = set()
        # (facet, value label, the two keys to intersect, members to discount); every compose
        # is queued before the first count, so the counts are the MULTI's trailing replies.
        jobs: list[tuple[str, str, str, str, int]] = []

        def queue(pipe: Pipeline) -> None:
            def ensure(subset: Filters) -> str:
                plan = composition.plan(*gen, subset, "reco")
                if plan.dest not in composed:
                    composed.add(plan.dest)
                    composition.queue(pipe, plan)
                return plan.dest

            composed.clear()
            jobs.clear()
            for name in names:
                base_key = ensure(facets.base(filters, name))
                if name in facets.BUCKETS:
                    for lo, hi in facets.BUCKETS[name]:
                        bucket_key = ensure(facets.bucket_filters(name, lo, hi))
                        jobs.append((name, facets.label(lo, hi), base_key, bucket_key, 1))
                else:
                    field = facets.INDEX_FIELDS[name]
                    jobs.extend((name, value, base_key, keys.set_index(gen[0], field, value), 0)
                                for value in values[name])
            for _, _, one, other, _ in jobs:
                pipe.zintercard(2, [one, other])

        results = await self.on_primary(reader, gen, keys.meta(), queue)
        counts: dict[str, dict[str, int]] = {n: {} for n in names}
        for (name, value, _, _, discount), raw in zip(jobs, results[len(results) - len(jobs):],
                                                      strict=True):
            counts[name][value] = int(raw) - discount  # both bucket keys hold the sentinel
        return {n: facets.encode(n, c) for n, c in counts.items()}
