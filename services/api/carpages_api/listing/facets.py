"""Facet counts (pure): which set each facet counts over, the fixed buckets, the JSON.

Disjunctive: the count for a field that is itself filtered ignores that field's own filter, so
choosing Tata keeps Maruti's count visible (it says what `make_id=<tata>,<maruti>` would add).
`price` and `year` count over fixed buckets and ignore the price / year range filters.
`features` is the exception: its filter means "has ALL of them", so its counts keep every
filter and say how many cars would remain after also requiring that feature.
Either way adding a filter never raises a count: every base set only shrinks.

Set-field facets list only values with at least one car; bucket facets list every bucket.
"""

from __future__ import annotations

from typing import Final

import orjson

from carpages_api.listing.query import SET_PARAMS, Filters

PRICE_BUCKETS: Final = ((None, 199_999), (200_000, 299_999), (300_000, 499_999),
                        (500_000, 799_999), (800_000, 1_199_999), (1_200_000, 1_999_999),
                        (2_000_000, None))
"""Inclusive INR ranges; labels read `-199999`, `200000-299999`, ..., `2000000-`."""
YEAR_BUCKETS: Final = ((None, 2011), (2012, 2014), (2015, 2017), (2018, 2020), (2021, 2023),
                       (2024, None))
"""Inclusive model-year ranges; labels read `-2011`, `2012-2014`, ..., `2024-`."""
BUCKETS: Final = {"price": PRICE_BUCKETS, "year": YEAR_BUCKETS}
INDEX_FIELDS: Final = {**{f: f for f in SET_PARAMS}, "features": "feature"}
"""Facet name -> the set index field whose values it counts."""


def label(lo: int | None, hi: int | None) -> str:
    """`lo-hi` with an empty side for an open end (maps straight to *_min / *_max params)."""
    return f"{'' if lo is None else lo}-{'' if hi is None else hi}"


def base(filters: Filters, facet: str) -> Filters:
    """The filters a facet's counts are taken under."""
    return filters if facet == "features" else filters.without(facet)


def bucket_filters(facet: str, lo: int | None, hi: int | None) -> Filters:
    """The filters that select one bucket (its cached result is shared by every query)."""
    return Filters.model_validate({f"{facet}_min": lo, f"{facet}_max": hi})


def cache_hash(filters: Filters, facet: str) -> str:
    """Cache identity of one facet's counts: its base filters and its name."""
    return base(filters, facet).digest(salt=f"facet:{facet}")


def _value_order(value: str) -> tuple[bool, int, str]:
    return (not value.isdigit(), int(value) if value.isdigit() else 0, value)


def encode(facet: str, counts: dict[str, int]) -> bytes:
    """One facet's `{value: count}` JSON (zero counts dropped except for buckets)."""
    if facet in BUCKETS:
        return orjson.dumps(counts)
    ordered = {v: counts[v] for v in sorted(counts, key=_value_order) if counts[v] > 0}
    return orjson.dumps(ordered)


def splice(parts: list[tuple[str, bytes]]) -> bytes:
    """`{"make_id": {...}, ...}` from already-encoded facet bodies (no re-parse)."""
    return b"{" + b",".join(orjson.dumps(name) + b":" + body for name, body in parts) + b"}"
