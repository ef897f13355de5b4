"""The listing's Valkey round trips: meta-checked reads on the request's reader, MULTIs on the
primary, card reads; and what every listing path shares (generation, limits, in-process memory,
lookup counters). The ordered and reco paths and the facet reader are built on this.

Every read pipeline starts with the meta check (HMGET meta build version) and names its keys with
the remembered (build, version); a changed meta retries once with the new one. Writes —
compositions, facet counts, pins — always go to the primary (`writer`), in MULTIs run by
SlotTransactions (valid on Valkey Cluster too: every key shares `{cp}`).

A result is composed once per process at a time (`composing`): at 100,000 cars one composition
costs Valkey tens of milliseconds of single-threaded work, and concurrent misses of one query
each composing it queued Valkey past the API's timeout (503s on a cold narrow listing in the
bench). The others wait for the first and then read what it stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from carpages_shared import keys

from carpages_api.errors import ApiError
from carpages_api.listing.cache import ListingCache
from carpages_api.listing.generation import META_FIELDS, Generation
from carpages_api.listing.query import Limits
from carpages_api.listing.slice import Behind, Gen, present
from carpages_api.store.batches import Batches
from carpages_api.store.clients import Pipeline, Readers, ValkeyClient
from carpages_api.store.slot_transactions import SlotTransactions

Count = Callable[[str, str], None]
"""Counts one cache lookup: (kind, outcome)."""


class RoundTrips:
    """One app's listing access to Valkey, shared by its listing paths."""

    def __init__(self, readers: Readers, transactions: SlotTransactions, generation: Generation,
                 limits: Limits, count: Count | None = None) -> None:
        self.readers, self.transactions = readers, transactions
        self.writer: ValkeyClient = readers.primary
        self.generation, self.limits = generation, limits
        self.count: Count = count or (lambda kind, outcome: None)
        self.cache = ListingCache()
        self.batches = Batches()
        self._composing: dict[str, asyncio.Event] = {}
        generation.on_reset = self.cache.clear

    @contextlib.asynccontextmanager
    async def composing(self, key: str) -> AsyncIterator[bool]:
        """Single flight of one result key's composition in this process: True for the request
        that composes it; False, once that one is done (stored or failed), for the others, which
        then read again instead."""
        running = self._composing.get(key)
        if running is not None:
            await running.wait()
            yield False
            return
        done = self._composing[key] = asyncio.Event()
        try:
            yield True
        finally:
            del self._composing[key]
            done.set()

    async def verified(self, reader: ValkeyClient, reads: Callable[[Pipeline, int, int], None]
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

    async def on_primary(self, reader: ValkeyClient, gen: Gen, key: str,
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

    async def cards(self, source: ValkeyClient, build: int,
                    ids: Sequence[int | bytes]) -> list[bytes]:
        """The cards of `ids` (build `build`) from `source`; removed cars are skipped."""
        if not ids:
            return []
        pipe = source.pipeline(transaction=False)
        pipe.hmget(keys.cards(build), ids)
        raw, = await self.batches.run(source, pipe)
        return present(raw)
