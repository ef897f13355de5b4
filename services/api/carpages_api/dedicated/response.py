"""The dedicated page's HTTP response: body, ETag / 304 and headers, from what was read (pure).

Headers are assembled as raw byte pairs, in the order and spelling Starlette's Response would
give them, so the route and the fast lane produce identical responses without paying for
Starlette's per-response header processing. The builders return a bare `Answer` (status, raw
headers, body): the fast lane sends it as ASGI messages as it is, the route wraps it in a
RawResponse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from starlette.responses import Response

from carpages_api.dedicated.overlay import PageRead, etag, etag_matches, splice
from carpages_api.dedicated.reader import BuyerSnapshot, CarSnapshot, snapshot_read

JSON = (b"content-type", b"application/json")
PRIVATE = (b"cache-control", b"private, no-store")
VARY = (b"vary", b"Authorization")
X_CACHE = {True: (b"x-cache", b"hit"), False: (b"x-cache", b"miss")}

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
"""(status, raw headers, body): a plain tuple, as cheap to make as a response can be."""


class RawResponse(Response):
    """A Response whose raw headers are given ready-made."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = headers

    @classmethod
    def of(cls, answer: Answer) -> RawResponse:
        """The Response that sends exactly `answer`."""
        return cls(*answer)


def public_cache_control(max_age_s: int, swr_s: int) -> tuple[bytes, bytes]:
    """The Cache-Control header of anonymous (shareable) responses."""
    return b"cache-control", f"public, max-age={max_age_s}, stale-while-revalidate={swr_s}".encode()


def public(tag: str, body: Callable[[], bytes], if_none_match: str | None, hit: bool,
           cache_control: tuple[bytes, bytes]) -> Answer:
    """An anonymous response: 304 when If-None-Match names `tag` (whatever the request's own
    Cache-Control says: Node's fetch sends no-cache), else the body, built only then."""
    headers = [X_CACHE[hit], (b"etag", tag.encode()), cache_control, VARY]
    if etag_matches(if_none_match, tag):
        return 304, headers, b""
    content = body()
    headers += [(b"content-length", b"%d" % len(content)), JSON]
    return 200, headers, content


def private(body: bytes, hit: bool) -> Answer:
    """A signed-in buyer's response: never stored by shared caches."""
    return 200, [X_CACHE[hit], PRIVATE, (b"content-length", b"%d" % len(body)), JSON], body


def from_read(read: PageRead, seen: Collection[int], if_none_match: str | None, hit: bool,
              cache_control: tuple[bytes, bytes]) -> Answer:
    """The page with this caller's overlay: private for a buyer, public with an ETag else."""
    assert read.page is not None  # only found pages get this far
    body = splice(read.page, read.overlay(seen, time.time()).to_json())
    if read.buyer_id is not None:
        return private(body, hit)
    return public(etag(body), lambda: body, if_none_match, hit, cache_control)


def from_snapshots(car_id: int, car: CarSnapshot, buyer_id: int | None,
                   buyer: BuyerSnapshot | None, seen: Collection[int],
                   if_none_match: str | None, cache_control: tuple[bytes, bytes]) -> Answer:
    """The response from L1 snapshots (always a cache hit)."""
    if buyer_id is None and car_id not in seen:
        # The plain anonymous body, whose overlay and ETag were made with the snapshot.
        return public(car.anon_etag, lambda: splice(car.page, car.anon_overlay), if_none_match,
                      True, cache_control)
    return from_read(snapshot_read(car_id, car, buyer_id, buyer), seen, if_none_match, True,
                     cache_control)
