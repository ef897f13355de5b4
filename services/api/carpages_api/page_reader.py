"""The dedicated page's one Valkey round trip: the cached page plus every dynamic input.

This is the only module that knows which keys a dedicated-page request touches. One
non-transactional pipeline reads the page, the negative-cache marker, the interested count and,
for a signed-in buyer, the paid-only hash and the buyer's seen / test-drive / offer / paid-until
keys. Deciding what the caller may see happens afterwards, in pure code.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from carpages_shared import keys

from carpages_api.overlay import Overlay

PRIVATE_FIELDS = ("seller_mobile_no", "inspection_report")


@dataclass(frozen=True)
class PageRead:
    """Raw results of the pipeline for one car and (optionally) one buyer."""

    car_id: int
    page: bytes | None
    known_missing: bool
    interested: int
    buyer_id: int | None = None
    seen: bool = False
    test_drive: bool = False
    offer: bytes | None = None
    paid_until: bytes | None = None
    seller_mobile_no: bytes | None = None
    inspection_report: bytes | None = None

    def paid(self, now: float) -> bool:
        """A verified buyer whose subscription (from the data, not the token) runs past now."""
        if self.buyer_id is None or self.paid_until is None:
            return False
        try:
            return int(self.paid_until) > now
        except ValueError:
            return False

    def overlay(self, seen_ids: Collection[int], now: float) -> Overlay:
        """The dynamic fields this caller may see; paid-only ones stay None unless paid."""
        paid = self.paid(now)
        offer = int(self.offer) if self.offer is not None and self.offer.isdigit() else None
        mobile = self.seller_mobile_no.decode() if paid and self.seller_mobile_no else None
        return Overlay(
            is_seen=self.seen or self.car_id in seen_ids,
            test_drive_booked=self.test_drive,
            offer_amount=offer,
            interested_people=self.interested,
            seller_mobile_no=mobile,
            inspection_report=self.inspection_report if paid else None,
        )


async def read_page(client: Any, car_id: int, buyer_id: int | None) -> PageRead:
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

