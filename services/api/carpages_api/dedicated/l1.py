"""The dedicated page's in-process cache (L1), kept exact by Valkey's client-side tracking.

Car snapshots (page, interested count, paid-only hash) and buyer snapshots (seen, test drives,
offers, paid-until) are kept per process and dropped the moment Valkey reports a change to any
key they were made from. An anonymous request for a cached car, or a buyer's request when both
snapshots are cached, needs no Valkey round trip; whatever is missing is read in one pipeline.

Where reads come from: the snapshots are read from, and tracked on, the one server `client`
points to (the primary). A replica would report its changes only after applying the
replication stream, but reads and reports must come from the same server, or a fill from a
lagging replica could store a value whose change was already reported by another. Behind
Sentinel, `locate` finds the primary and a failover empties the cache (store.tracking). Cluster mode
runs without L1 (tracking would need a connection per node and resets per slot migration).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from carpages_shared import keys

from carpages_api.dedicated import reader
from carpages_api.dedicated.reader import BuyerSnapshot, CarSnapshot
from carpages_api.dedicated.tracked_lru import TrackedLru
from carpages_api.store.clients import ValkeyClient
from carpages_api.store.tracking import Locate, Tracker


class Snapshots(NamedTuple):
    """What one request needs; `fetched` when Valkey was read for it."""

    car: CarSnapshot | None
    buyer: BuyerSnapshot | None
    fetched: bool


class PageL1:
    """Tracked car and buyer snapshots over one Valkey server."""

    def __init__(self, client: ValkeyClient, url: str, max_cars: int, max_buyers: int,
                 timeout_s: float, heartbeat_s: float, locate: Locate | None = None) -> None:
        self.client = client
        self.cars: TrackedLru[int, CarSnapshot] = TrackedLru(max_cars, reader.car_keys)
        self.buyers: TrackedLru[int, BuyerSnapshot] = TrackedLru(max_buyers,
                                                                 reader.buyer_keys)
        self.resets = 0
        self.tracker = Tracker(url, (keys.car_prefix(), keys.buyer_prefix()), self._changed,
                               self._reset, timeout_s, heartbeat_s, locate)

    def start(self) -> None:
        """Start tracking (in the background; the cache is bypassed until it is on)."""
        self.tracker.start()

    async def aclose(self) -> None:
        """Stop tracking and forget everything."""
        await self.tracker.aclose()

    def _changed(self, names: Sequence[bytes]) -> None:
        self.cars.changed(names)
        self.buyers.changed(names)

    def _reset(self) -> None:
        self.resets += 1
        self.cars.reset()
        self.buyers.reset()

    @property
    def usable(self) -> bool:
        """Apply the reports already received; True while tracking is on."""
        tracker = self.tracker
        tracker.drain()
        return tracker.live

    async def read(self, car_id: int, buyer_id: int | None) -> Snapshots:
        """The car's and the buyer's snapshots, cached or read in one round trip (car None:
        no page in Valkey). Call only while `usable`."""
        car = self.cars.get(car_id)
        buyer = self.buyers.get(buyer_id) if buyer_id is not None else None
        if car is not None and (buyer_id is None or buyer is not None):
            return Snapshots(car, buyer, fetched=False)
        # Registered before the read is sent: a change reported meanwhile spoils the fill.
        car_fill = self.cars.begin(car_id) if car is None else None
        buyer_fill = (self.buyers.begin(buyer_id)
                      if buyer_id is not None and buyer is None else None)
        started = time.monotonic()
        try:
            pipe = self.client.pipeline(transaction=False)
            if car_fill is not None:
                reader.queue_car(pipe, car_id)
            if buyer_fill is not None:
                reader.queue_buyer(pipe, buyer_fill.ident)
            replies = await pipe.execute()
        except BaseException:
            if car_fill is not None:
                self.cars.finish(car_fill, None)
            if buyer_fill is not None:
                self.buyers.finish(buyer_fill, None)
            raise
        # A change reported before this point spoils the fill; one reported later drops what
        # is stored now. Draining here just settles the first case before storing.
        self.tracker.drain()
        if car_fill is not None:
            car_replies = replies[:reader.CAR_REPLIES]
            replies = replies[reader.CAR_REPLIES:]
            car = reader.car_snapshot(car_id, car_replies)
            self.cars.finish(car_fill, car, reader.deadline(car_replies[3:], started))
        if buyer_fill is not None:
            buyer = reader.buyer_snapshot(replies)
            self.buyers.finish(buyer_fill, buyer, reader.deadline(replies[4:], started))
        return Snapshots(car, buyer, fetched=True)
