"""How a query's result set is composed in Valkey: the plan (pure) and the commands it queues.

One ZINTERSTORE over the filter sets gives the result ZSET, and its WEIGHTS make the score the
order itself, so paging is a plain ZRANGE:

- newest / price: score = value × 2^21 + car id (the live-cars ZSET has score = id), i.e. ORDER
  BY value, id — ties broken by id, so pages never overlap or skip. Exact while the score stays
  below 2^53: values below 2^32 (every INT UNSIGNED price, epoch seconds until 2106) and car ids
  below 2^21 (2,097,152). Past that bound the float rounds and ties may order oddly, but the
  ZSET order stays total, so pages still never overlap.
- reco: score = the car's interaction count (popularity ZSET × 1). The reco result is a ZSET,
  not a plain SET: Valkey cannot store a set intersection with the numeric-range ZSETs as a
  plain SET, and the score hands the popularity ranker its input in the same read.

Every result also holds the sentinel member "0" (score -1, always first; car ids start at 1):
ZINTERSTORE deletes an empty destination, and the sentinel lets an empty result be cached too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from carpages_shared import keys

from carpages_api.listing.query import Filters
from carpages_api.store.clients import Pipeline

SENTINEL: Final = b"0"
SENTINEL_SCORE: Final = -1
ID_FACTOR: Final = 2**21
ORDER_FIELDS: Final = {"newest": "created", "price": "price"}
"""Result order key -> numeric index the score is made of (reco uses popularity)."""


def order_key(order_by: str) -> str:
    """The cached result a listing order reads: price_asc and price_desc share one ZSET."""
    return "price" if order_by.startswith("price") else order_by


def range_bound(value: float | None, low: bool) -> str:
    """A ZRANGE BYSCORE bound: open ends are -inf/+inf, inclusive otherwise."""
    if value is None:
        return "-inf" if low else "+inf"
    return str(value)


@dataclass(frozen=True)
class Plan:
    """The commands that compose one query result (run inside one MULTI)."""

    dest: str
    unions: tuple[tuple[str, tuple[str, ...]], ...]
    """(scratch key, set index keys) for each multi-valued filter: SUNIONSTORE."""
    ranges: tuple[tuple[str, str, str, str], ...]
    """(scratch key, numeric index key, min, max) for each range filter: ZRANGESTORE BYSCORE."""
    weights: dict[str, float]
    """ZINTERSTORE sources and weights (empty when the filters match nothing)."""

    @property
    def scratch(self) -> list[str]:
        """Temporary keys to delete once the result is stored."""
        return [k for k, _ in self.unions] + [k for k, *_ in self.ranges]


def plan(build: int, version: int, filters: Filters, key_order: str) -> Plan:
    """The composition of `filters` into the `key_order` result of this build and version."""
    qhash = filters.digest()
    dest = keys.query_result(build, version, key_order, qhash)
    if filters.matches_nothing():
        return Plan(dest, (), (), {})
    weights: dict[str, float] = {}
    unions: list[tuple[str, tuple[str, ...]]] = []
    for field, values in filters.set_filters():
        sources = tuple(keys.set_index(build, field, v) for v in values)
        if len(sources) == 1:
            weights[sources[0]] = 0
        else:
            scratch = keys.query_scratch(build, version, qhash, f"u:{field}")
            unions.append((scratch, sources))
            weights[scratch] = 0
    for feature in filters.features or ():
        weights[keys.set_index(build, "feature", feature)] = 0
    ranges = []
    for field, lo, hi in filters.ranges():
        scratch = keys.query_scratch(build, version, qhash, f"n:{field}")
        ranges.append((scratch, keys.numeric_index(build, field), range_bound(lo, True),
                       range_bound(hi, False)))
        weights[scratch] = 0
    if key_order == "reco":
        weights[keys.popularity(build)] = 1
        weights[keys.live_cars(build)] = 0
    else:
        weights[keys.numeric_index(build, ORDER_FIELDS[key_order])] = ID_FACTOR
        weights[keys.live_cars(build)] = 1
    return Plan(dest, tuple(unions), tuple(ranges), weights)


def queue(pipe: Pipeline, plan: Plan) -> None:
    """Queue the commands that (re)build one result key on a pipeline (the caller runs them in
    one MULTI on the primary: composing writes, which a read-only replica refuses)."""
    for scratch, sources in plan.unions:
        pipe.sunionstore(scratch, list(sources))
    for scratch, source, lo, hi in plan.ranges:
        pipe.zrangestore(scratch, source, lo, hi, byscore=True)
    if plan.weights:
        pipe.zinterstore(plan.dest, plan.weights)
    else:
        pipe.delete(plan.dest)
    pipe.zadd(plan.dest, {SENTINEL: SENTINEL_SCORE})
    pipe.expire(plan.dest, keys.QUERY_TTL)
    if plan.scratch:
        pipe.delete(*plan.scratch)
