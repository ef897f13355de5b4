"""The `reco` order of `GET /listing/`: candidates, the ranker's order, the viewer's pin.

Page requests without a pin: the candidate set (the result ZSET with popularity scores) is read
once per result key and kept (listing.cache); the ranker's order for a viewer is kept per
(candidate copy, ranker `order_key`, viewer). So a repeated anonymous request needs only the meta
check and the page's cards, in one pipeline; a signed-in buyer's also reads their seen set
first. The snapshot is content-addressed (pinning): every viewer with the same order gets the
same pin, which this process writes once and rewrites only when PIN_REFRESH_S has passed.

Pinned requests read their page of the stored order (GETRANGE), or — for a pin this process
wrote — take the ids from memory and only check in the same pipeline that the key still exists.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from carpages_shared import keys

from carpages_api.listing import composition, pinning
from carpages_api.listing.cache import (
    PIN_REFRESH_S,
    SNAPSHOTS_PER_ORDER,
    Candidates,
    Pinned,
    Ranked,
    Snapshot,
    Stored,
    deadline,
)
from carpages_api.listing.composition import SENTINEL
from carpages_api.listing.query import Filters, ListingQuery
from carpages_api.listing.round_trips import RoundTrips
from carpages_api.listing.slice import Gen, Slice, present
from carpages_api.reco.ranking import Ranker, Viewer, order_key
from carpages_api.store.clients import Pipeline, ValkeyClient


@dataclass(frozen=True)
class _Attempt:
    """What one attempt of the verified read relied on (a retry queues its reads afresh)."""

    key: str = ""
    candidates: Candidates | None = None
    """The kept candidate set (None: the result is read in this attempt)."""
    ranked: Ranked | None = None
    """The kept order for this viewer."""
    guess: tuple[Stored, Snapshot] | None = None
    """(the seen set it assumed, the snapshot) whose page's cards this attempt read."""


class RecoPath:
    """Reads reco pages (over the listing's round trips, memory and limits)."""

    def __init__(self, trips: RoundTrips) -> None:
        self.trips = trips
        self.cache = trips.cache

    async def read(self, reader: ValkeyClient, query: ListingQuery, filters: Filters,
                   buyer_id: int | None, ranker: Ranker, start: int, stop: int) -> Slice:
        """The page at positions start..stop of the viewer's order."""
        # The bare `buyer_id=` param personalises the model's order only; the seen set (private)
        # is read for a token-verified buyer alone.
        viewer = Viewer(buyer_id=buyer_id or query.buyer_id, seen_ids=query.seen_car_ids)
        qhash = filters.digest()
        if query.pin:
            hit = await self._pinned(reader, query.pin, qhash, viewer, start, stop)
            self.trips.count("listing_pin", "hit" if hit is not None else "miss")
            if hit is not None:
                return hit
        ranker_key = order_key(ranker)
        window = self.trips.limits.page_window
        attempt = _Attempt()
        started = time.monotonic()

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            nonlocal attempt
            attempt = self._queue(pipe, build, keys.query_result(build, version, "reco", qhash),
                                  ranker_key, viewer, buyer_id, start, stop)

        gen, replies = await self.trips.verified(reader, reads)
        candidates = attempt.candidates
        source = reader
        if candidates is None:
            members, pttl, *replies = replies
            self.trips.count("listing_result", "hit" if members else "miss")
            if members:
                until = deadline(started, pttl, keys.QUERY_TTL)
            else:
                dest = keys.query_result(*gen, "reco", qhash)
                async with self.trips.composing(dest) as first:
                    if not first:  # another request of this process just composed it
                        return await self.read(reader, query, filters, buyer_id, ranker, start,
                                               stop)
                    members, until, source = await self._compose(reader, gen, filters)
            candidates = self._keep(attempt.key, members, until)
        else:
            self.trips.count("listing_result", "hit")
        stored = frozenset(replies.pop(0)) if buyer_id is not None else None
        ranked, guess = attempt.ranked, attempt.guess
        if ranked is not None and guess is not None and guess[0] == stored:
            snap = guess[1]
            cards = present(replies[0]) if start < len(snap.ids) else []
            ranked.last = stored
            return self._pinned_slice(gen, snap, reader, query, qhash, viewer, ranker,
                                      snap.page(start, stop), cards)
        ranked = ranked or self._rank(candidates, ranker, ranker_key, viewer)
        snap = ranked.snapshot(viewer.seen_ids, stored, window)
        return self._pinned_slice(gen, snap, source, query, qhash, viewer, ranker,
                                  snap.page(start, stop), None)

    def _queue(self, pipe: Pipeline, build: int, key: str, ranker_key: Hashable | None,
               viewer: Viewer, buyer_id: int | None, start: int, stop: int) -> _Attempt:
        """Queue one attempt's reads after the meta check; say what it relied on."""
        candidates = self.cache.results.get((key, False))
        if not isinstance(candidates, Candidates):
            pipe.zrange(key, 0, -1, withscores=True)
            pipe.pttl(key)
            if buyer_id is not None:
                pipe.smembers(keys.buyer_seen(buyer_id))
            return _Attempt(key)
        ranked = (self.cache.orders.get((candidates.serial, ranker_key, viewer))
                  if ranker_key is not None else None)
        if buyer_id is not None:
            pipe.smembers(keys.buyer_seen(buyer_id))
        if ranked is None:
            return _Attempt(key, candidates)
        # Anonymous: the snapshot is known. A buyer: guess their seen set is the one of their
        # last request and read that page's cards too; the SMEMBERS beside it in this pipeline
        # says whether the guess held.
        guess = ranked.snapshots.get(ranked.last) if buyer_id is not None else (
            ranked.snapshot(viewer.seen_ids, None, self.trips.limits.page_window))
        if guess is None:
            return _Attempt(key, candidates, ranked)
        if start < len(guess.ids):
            pipe.hmget(keys.cards(build), guess.page(start, stop))
        return _Attempt(key, candidates, ranked, (ranked.last, guess))

    # ------------------------------------------------------------------ candidates and orders
    async def _compose(self, reader: ValkeyClient, gen: Gen, filters: Filters
                       ) -> tuple[list[Any], float | None, Any]:
        """Compose the missing result on the primary: (members, copy deadline, card source)."""
        plan = composition.plan(*gen, filters, "reco")

        def queue(pipe: Pipeline) -> None:
            composition.queue(pipe, plan)
            pipe.zrange(plan.dest, 0, -1, withscores=True)

        started = time.monotonic()
        members = (await self.trips.on_primary(reader, gen, plan.dest, queue))[-1]
        # A replica request's composition is not kept: its ids are the primary's, and later
        # requests should read their own replica's copy (see listing.ordered).
        mine = reader is self.trips.writer
        return members, started + keys.QUERY_TTL if mine else None, self.trips.writer

    def _keep(self, key: str, members: list[Any], until: float | None) -> Candidates:
        popularity = {int(m): float(s) for m, s in members if m != SENTINEL}
        candidates = Candidates(list(popularity), popularity, until or 0.0)
        if until is not None:
            self.cache.results.put((key, False), candidates, until, len(candidates.ids) + 1)
        return candidates

    def _rank(self, candidates: Candidates, ranker: Ranker, ranker_key: Any,
              viewer: Viewer) -> Ranked:
        by_array = getattr(ranker, "rank_array", None)
        ranked: Sequence[int] | np.ndarray
        if by_array is not None:  # no list <-> array conversions (~0.3 ms per 10,000 ids)
            ranked = by_array(candidates.array, viewer, candidates.popularity)
        else:
            ranked = ranker.rank(candidates.ids, viewer, candidates.popularity)
        found = Ranked(pinning.ordered(ranked, candidates.array, members=candidates.members))
        if ranker_key is not None and candidates.deadline:
            size = len(found.order)
            weight = size + 1 + SNAPSHOTS_PER_ORDER * min(size, self.trips.limits.page_window)
            self.cache.orders.put((candidates.serial, ranker_key, viewer), found,
                                  candidates.deadline, weight)
        return found

    # ------------------------------------------------------------------ pins
    def _pinned_slice(self, gen: Gen, snap: Snapshot, source: ValkeyClient, query: ListingQuery,
                      qhash: str, viewer: Viewer, ranker: Ranker, ids: Sequence[int | bytes],
                      cards: list[bytes] | None) -> Slice:
        """The page, with the pin of its snapshot (written when due) unless one page holds it.

        A request whose own pin missed gets a random pin, so its new link never names the key
        that just went missing (it may have been evicted while this process thought it fresh).
        """
        if snap.count <= query.page_size and query.page_no == 1:
            return Slice(gen, snap.count, ids, source, cards)
        version = ranker.version
        if query.pin is not None:
            pin = pinning.new_pin(version)
            key = keys.pinned_order(pin.rsplit(".", 1)[0], pinning.pin_id(pin, qhash, viewer))
        else:
            pin, key = snap.remember(("pin", version, qhash, viewer),
                                     lambda: self._content_pin(snap, version, qhash, viewer))
        now = time.monotonic()
        known = self.cache.pins.get(key, now)
        write = None if known is not None and known.refresh_at > now else self._write(key, snap)
        return Slice(gen, snap.count, ids, source, cards, pin, write)

    @staticmethod
    def _content_pin(snap: Snapshot, version: str, qhash: str, viewer: Viewer
                     ) -> tuple[str, str]:
        """(pin, key name) of a snapshot's content-addressed pin for this query and viewer."""
        pin = pinning.content_pin(version, snap.token)
        return pin, keys.pinned_order(pin.rsplit(".", 1)[0], pinning.pin_id(pin, qhash, viewer))

    async def _write(self, key: str, snap: Snapshot) -> None:
        started = time.monotonic()
        await self.trips.writer.set(key, snap.packed(), ex=keys.PIN_TTL)
        self.cache.pins.put(key, Pinned(snap, started + PIN_REFRESH_S),
                            started + keys.PIN_TTL)

    async def _pinned(self, reader: ValkeyClient, pin: str, qhash: str, viewer: Viewer, start: int,
                      stop: int) -> Slice | None:
        parsed = pinning.parse_pin(pin)
        if parsed is None:
            return None
        key = keys.pinned_order(parsed[0], pinning.pin_id(pin, qhash, viewer))
        local = self.cache.pins.get(key)
        ids = local.snapshot.page(start, stop) if local is not None else []
        lo, hi = pinning.byte_range(start, stop)

        def reads(pipe: Pipeline, build: int, version: int) -> None:
            if local is not None:
                pipe.exists(key)
                if ids:
                    pipe.hmget(keys.cards(build), ids)
            else:
                pipe.getrange(key, 0, pinning.HEADER_BYTES - 1)
                pipe.getrange(key, lo, hi)

        gen, replies = await self.trips.verified(reader, reads)
        if local is not None:
            if replies[0]:
                cards = present(replies[1]) if ids else []
                return Slice(gen, local.snapshot.count, ids, reader, cards, pin)
            head, body = b"", b""  # as if read: missing here (a replica may just lag)
        else:
            head, body = replies
        source = reader
        writer = self.trips.writer
        if pinning.unpack_count(head) is None and reader is not writer:
            # Written a moment ago on the primary; the replica may not have it yet. Its ids may
            # be newer than the replica's cards too, so they are read from the primary as well.
            pipe = writer.pipeline(transaction=False)
            pipe.getrange(key, 0, pinning.HEADER_BYTES - 1)
            pipe.getrange(key, lo, hi)
            head, body = await pipe.execute()
            source = writer
        count = pinning.unpack_count(head)
        if count is None:
            self.cache.pins.pop(key)  # deleted or evicted: never vouch for it again
            return None
        return Slice(gen, count, pinning.unpack_ids(body), source, pin=pin)
