"""The listing response body, spliced from cached bytes (pure; cards are never parsed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class ListingPage:
    """One page of a listing, with the cards still as the cached JSON bytes."""

    count: int
    page_count: int
    next: str | None
    previous: str | None
    cards: Sequence[bytes]
    facets: bytes | None = None
    personalised: bool = False
    """True when the order depends on the viewer (reco): never shared-cacheable."""

    def body(self) -> bytes:
        """`{count, page_count, next, previous, results[, facets]}` as JSON bytes."""
        parts = [b'{"count":', str(self.count).encode(), b',"page_count":',
                 str(self.page_count).encode(), b',"next":', orjson.dumps(self.next),
                 b',"previous":', orjson.dumps(self.previous), b',"results":[',
                 b",".join(self.cards), b"]"]
        if self.facets is not None:
            parts += [b',"facets":', self.facets]
        parts.append(b"}")
        return b"".join(parts)
