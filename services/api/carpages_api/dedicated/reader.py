"""The dedicated page's one Valkey round trip: the cached page plus every dynamic input.

This is the only module that knows which keys a dedicated-page request touches. One
non-transactional pipeline reads the page, the negative-cache marker, the interested count and,
for a signed-in buyer, the paid-only hash and the buyer's seen / test-drive / offer / paid-until
keys. Deciding what the caller may see happens afterwards, in pure code.

For the in-process cache (dedicated.l1) the same inputs are read as two snapshots instead: a car's
(page, interested count, paid-only hash) and a buyer's (whole seen / test-drive sets, offers,
paid-until), each with the keys it was made from and the earliest expiry among them.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from carpages_shared import keys
from carpages_shared.assembly import PRIVATE_FIELDS

from carpages_api.dedicated.overlay import PageRead, etag, splice
from carpages_api.store.clients import Pipeline, ValkeyClient


async def read_page(client: ValkeyClient, car_id: int, buyer_id: int | None) -> PageRead:
    """Read everything a dedicated-page response needs in one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.dedicated_page(car_id))
    pipe.exists(keys.car_missing(car_id))
    pipe.scard(keys.car_interested(car_id))
    if buyer_id is not None:
        # Fetched for every signed-in buyer (paid status is only known once this returns);
        # it never leaves the process for an unpaid one.
        pipe.hmget(keys.car_private(car_id), list(PRIVATE_FIELDS))
        pipe.sismember(keys.buyer_seen(buyer_id), car_id)
        pipe.sismember(keys.buyer_test_drives(buyer_id), car_id)
        pipe.hget(keys.buyer_offers(buyer_id), str(car_id))
        pipe.get(keys.buyer_paid_until(buyer_id))
    results = await pipe.execute()
    page, missing, interested = results[0], results[1], results[2]
    if buyer_id is None:
        return PageRead(car_id, page, bool(missing), int(interested))
    (mobile, report), seen, test_drive, offer, paid_until = results[3:]
    return PageRead(car_id, page, bool(missing), int(interested), buyer_id, bool(seen),
                    bool(test_drive), offer, paid_until, mobile, report)



# ----------------------------------------------------------------------------- snapshots
@dataclass(frozen=True, slots=True)
class CarSnapshot:
    """A live car's cached inputs, with the overlay and ETag of its plain anonymous body (no
    seen ids) made once, when the snapshot is."""

    page: bytes
    interested: int
    seller_mobile_no: bytes | None
    inspection_report: bytes | None
    anon_overlay: bytes
    anon_etag: str


@dataclass(frozen=True, slots=True)
class BuyerSnapshot:
    """A buyer's cached inputs, as raw members so lookups equal SISMEMBER / HGET exactly."""

    seen: frozenset[bytes]
    test_drives: frozenset[bytes]
    offers: dict[bytes, bytes]
    paid_until: bytes | None


def car_keys(car_id: int) -> tuple[bytes, ...]:
    """The keys a CarSnapshot is made from."""
    return (keys.dedicated_page(car_id).encode(), keys.car_interested(car_id).encode(),
            keys.car_private(car_id).encode())


def buyer_keys(buyer_id: int) -> tuple[bytes, ...]:
    """The keys a BuyerSnapshot is made from."""
    return (keys.buyer_seen(buyer_id).encode(), keys.buyer_test_drives(buyer_id).encode(),
            keys.buyer_offers(buyer_id).encode(), keys.buyer_paid_until(buyer_id).encode())


def queue_car(pipe: Pipeline, car_id: int) -> None:
    """Add a CarSnapshot's reads (and its keys' TTLs) to a pipeline: 6 replies."""
    page, interested, private = (keys.dedicated_page(car_id), keys.car_interested(car_id),
                                 keys.car_private(car_id))
    pipe.get(page)
    pipe.scard(interested)
    pipe.hmget(private, list(PRIVATE_FIELDS))
    for key in (page, interested, private):
        pipe.pttl(key)


def queue_buyer(pipe: Pipeline, buyer_id: int) -> None:
    """Add a BuyerSnapshot's reads (and its keys' TTLs) to a pipeline: 8 replies."""
    names = (keys.buyer_seen(buyer_id), keys.buyer_test_drives(buyer_id),
             keys.buyer_offers(buyer_id), keys.buyer_paid_until(buyer_id))
    pipe.smembers(names[0])
    pipe.smembers(names[1])
    pipe.hgetall(names[2])
    pipe.get(names[3])
    for key in names:
        pipe.pttl(key)


CAR_REPLIES = 6


def deadline(ttls_ms: Collection[int], started: float) -> float | None:
    """When the first of these keys expires (monotonic), counted from before the read."""
    live = [ttl for ttl in ttls_ms if ttl >= 0]
    return started + min(live) / 1000 if live else None


def car_snapshot(car_id: int, replies: list[Any]) -> CarSnapshot | None:
    """The CarSnapshot from queue_car's replies; None when the page is absent."""
    page, interested, (mobile, report) = replies[0], int(replies[1]), replies[2]
    if page is None:
        return None
    overlay = PageRead(car_id, page, False, interested).overlay((), time.time()).to_json()
    return CarSnapshot(page, interested, mobile, report, overlay, etag(splice(page, overlay)))


def buyer_snapshot(replies: list[Any]) -> BuyerSnapshot:
    """The BuyerSnapshot from queue_buyer's replies."""
    seen, test_drives, offers, paid_until = replies[:4]
    return BuyerSnapshot(frozenset(seen), frozenset(test_drives), dict(offers), paid_until)


def snapshot_read(car_id: int, car: CarSnapshot, buyer_id: int | None,
                  buyer: BuyerSnapshot | None) -> PageRead:
    """The PageRead the pipeline would have returned, made from snapshots."""
    if buyer_id is None or buyer is None:
        return PageRead(car_id, car.page, False, car.interested)
    member = str(car_id).encode()
    return PageRead(car_id, car.page, False, car.interested, buyer_id, member in buyer.seen,
                    member in buyer.test_drives, buyer.offers.get(member), buyer.paid_until,
                    car.seller_mobile_no, car.inspection_report)
