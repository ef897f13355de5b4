"""Listing queries remembered by their raw query string (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from carpages_api.listing_query import Limits, ListingQuery, parse_query


class ParsedQueries:
    """`parse_query` remembered by raw query string (bounded): parsing is pure, so a repeated
    string gets the same ListingQuery (frozen). Rejected strings are not remembered."""

    MAX_ENTRIES: Final = 4096
    MAX_KEY_BYTES: Final = 2048

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._known: dict[bytes, ListingQuery] = {}

    def parse(self, raw: bytes, items: Callable[[], Iterable[tuple[str, str]]]) -> ListingQuery:
        """The query for `raw` (the request's query string); `items` gives its pairs."""
        query = self._known.get(raw)
        if query is None:
            query = parse_query(items(), self.limits)
            if len(raw) <= self.MAX_KEY_BYTES:
                if len(self._known) >= self.MAX_ENTRIES:
                    del self._known[next(iter(self._known))]  # the oldest first
                self._known[raw] = query
        return query
