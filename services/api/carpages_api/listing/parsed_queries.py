"""Listing queries remembered by their raw query string (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from carpages_api.listing.parsing import ignored_names, parse_query
from carpages_api.listing.query import Limits, ListingQuery

Parsed = tuple[ListingQuery, str | None]
"""The query and its `X-Ignored-Params` value (None: nothing to list)."""


class ParsedQueries:
    """`parse_query` remembered by raw query string (bounded): parsing is pure, so a repeated
    string gets the same ListingQuery (frozen). Rejected strings are not remembered."""

    MAX_ENTRIES: Final = 4096
    MAX_KEY_BYTES: Final = 2048

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._known: dict[bytes, Parsed] = {}

    def parse(self, raw: bytes, items: Callable[[], Iterable[tuple[str, str]]]) -> Parsed:
        """The query for `raw` (the request's query string) and the names it ignores; `items`
        gives its pairs."""
        parsed = self._known.get(raw)
        if parsed is None:
            pairs = list(items())
            parsed = parse_query(pairs, self.limits), ignored_names(pairs)
            if len(raw) <= self.MAX_KEY_BYTES:
                if len(self._known) >= self.MAX_ENTRIES:
                    del self._known[next(iter(self._known))]  # the oldest first
                self._known[raw] = parsed
        return parsed
