"""Whole anonymous listing pages kept in process memory, exact by Valkey client-side tracking.

A warm listing page costs one Valkey round trip (the meta check and the page's cards) plus the
body's assembly; the same request repeated (ad traffic lands on a few URLs) can instead replay
the body this process built last time, as long as nothing it was made from has changed. What an
anonymous page is made from: the build's keys (indexes, cards, popularity), the meta (build,
version, slug-map token) and the slug map, all under `keys.listing_prefixes()`, which one
tracking connection watches (store.tracking); the query string itself; and the ranker's
`order_key`. Any change reported under those prefixes moves the `epoch` and every page made
before it stops being served; a reset (lost connection, flush, tracking not yet on) does the same
and bypasses the cache until tracking is back.

Fills follow the dedicated page's L1 rule: the epoch is read (after draining the tracker) before
the page's reads are sent, and the page is stored only if the epoch has not moved when it is
done, so a page whose reads raced with a change is never kept. Signed-in callers are never
served from here (their pages depend on their own keys) and neither is a ranker without an
`order_key`.

Two bounds keep what a hit serves no older than what the uncached path would: an entry lives
at most PIN_REFRESH_S, so a reco page's `next` link names a pin with at least
PIN_TTL - 2 × PIN_REFRESH_S seconds left (the uncached path vouches for PIN_TTL - PIN_REFRESH_S),
and the process's replicas, when configured, turn this cache off (tracking and fills must come
from one server: see dedicated.l1). Valkey Cluster runs without it, as without the page L1.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from carpages_shared import keys

from carpages_api.listing.cache import PIN_REFRESH_S, Lru
from carpages_api.reco.ranking import Ranker, order_key
from carpages_api.store.tracking import Locate, Tracker


@dataclass(frozen=True)
class CachedPage:
    """What the endpoint needs to answer again: the body, its ETag, and how it was made."""

    body: bytes
    etag: str
    personalised: bool
    ignored: str | None
    """The X-Ignored-Params value the query string produced (None: none ignored)."""


@dataclass(frozen=True)
class _Entry:
    page: CachedPage
    epoch: int
    order_key: Hashable


@dataclass(frozen=True)
class Fill:
    """A page's reads in flight: the epoch and ranker order key they started under."""

    epoch: int
    order_key: Hashable


class ListingL1:
    """Anonymous listing pages by raw query string, over one tracked Valkey server."""

    def __init__(self, url: str, max_bytes: int, timeout_s: float, heartbeat_s: float,
                 locate: Locate | None = None, max_age_s: float = PIN_REFRESH_S) -> None:
        self.pages: Lru[bytes, _Entry] = Lru(max_bytes)
        self.max_age_s = max_age_s
        self.epoch = 0
        """Moves with every reported change and reset: pages of an older epoch are dead."""
        self.tracker = Tracker(url, keys.listing_prefixes(), self._changed, self._reset,
                               timeout_s, heartbeat_s, locate)

    def start(self) -> None:
        """Start tracking (in the background; the cache is bypassed until it is on)."""
        self.tracker.start()

    async def aclose(self) -> None:
        """Stop tracking and forget everything."""
        await self.tracker.aclose()

    def _changed(self, names: Sequence[bytes]) -> None:
        self.epoch += 1

    def _reset(self) -> None:
        self.epoch += 1
        self.pages.clear()

    def _usable(self) -> bool:
        tracker = self.tracker
        tracker.drain()
        return tracker.live

    def get(self, query: bytes, ranker: Ranker) -> CachedPage | None:
        """The page this process made for `query` if nothing it came from has changed since
        (the ranker included: its `order_key` must be the one the page was made under)."""
        key = order_key(ranker)
        if key is None or not self._usable():
            return None
        entry = self.pages.get(query)
        if entry is None:
            return None
        if entry.epoch != self.epoch or entry.order_key != key:
            self.pages.pop(query)
            return None
        return entry.page

    def begin(self, ranker: Ranker) -> Fill | None:
        """Register a fill before the page's reads are sent (None: the cache is off now)."""
        key = order_key(ranker)
        if key is None or not self._usable():
            return None
        return Fill(self.epoch, key)

    def finish(self, query: bytes, fill: Fill, page: CachedPage) -> None:
        """Store the page unless a change was reported since `begin`."""
        self.tracker.drain()
        if fill.epoch != self.epoch or not self.tracker.live:
            return
        weight = len(page.body) + len(query) + 200
        self.pages.put(query, _Entry(page, fill.epoch, fill.order_key),
                       time.monotonic() + self.max_age_s, weight)
