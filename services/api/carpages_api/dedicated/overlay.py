"""The per-request part of a dedicated page (pure): who may see which dynamic field — the
paid-field rule — then the overlay bytes, the splice and the ETag.

The cached page is pre-serialised JSON. The hot path never parses it: it serialises only the small
overlay with orjson and joins the two objects byte-wise, so the cost does not grow with the page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import NamedTuple

import orjson
from carpages_shared.payloads import OVERLAY_SCHEMA_VERSION


class NotAJsonObject(ValueError):
    """The cached bytes do not look like one JSON object (a corrupt or foreign value)."""


# Overlay and PageRead are made on every personalised request: as named tuples they cost a
# fifth of what frozen dataclasses do (whose __init__ sets each field through object.__setattr__).
class Overlay(NamedTuple):
    """The dynamic fields of one response (seed 001's dynamic entities)."""

    is_seen: bool
    test_drive_booked: bool
    offer_amount: int | None
    interested_people: int
    seller_mobile_no: str | None = None
    inspection_report: bytes | None = None
    """Compact JSON as stored by the builder; embedded verbatim, never parsed here."""

    def to_json(self) -> bytes:
        """The overlay as a JSON object (field order fixed, so equal overlays give equal bytes)."""
        report = (orjson.Fragment(self.inspection_report)
                  if self.inspection_report is not None else None)
        return orjson.dumps({
            "overlay_version": OVERLAY_SCHEMA_VERSION,
            "is_seen": self.is_seen,
            "test_drive_booked": self.test_drive_booked,
            "offer_amount": self.offer_amount,
            "interested_people": self.interested_people,
            "seller_mobile_no": self.seller_mobile_no,
            "inspection_report": report,
        })


class PageRead(NamedTuple):
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


def splice(page: bytes, overlay: bytes) -> bytes:
    """Merge two JSON objects' members: `{page...}` + `{overlay...}` -> `{page..., overlay...}`."""
    page = page.strip()
    overlay = overlay.strip()
    if not (page[:1] == b"{" and page[-1:] == b"}" and overlay[:1] == b"{"
            and overlay[-1:] == b"}"):
        raise NotAJsonObject("both parts must be JSON objects")
    if page == b"{}" or page[1:-1].strip() == b"":
        return overlay
    if overlay[1:-1].strip() == b"":
        return page
    return page[:-1] + b"," + overlay[1:]


def etag(body: bytes) -> str:
    """A strong ETag for these exact bytes (a 128-bit BLAKE2b digest: fast and collision-safe)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, current: str) -> bool:
    """RFC 9110 If-None-Match: `*` or any listed tag equal under weak comparison."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = current.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))
