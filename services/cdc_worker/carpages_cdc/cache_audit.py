"""Reads for reconcile: the cache's entries side by side with a fresh read of MySQL.

Each check returns what differs; nothing here writes. Fresh connections each time, so a re-check
after a pause sees the database as it is then (not an old REPEATABLE READ snapshot).
"""

from __future__ import annotations

from typing import Any

from carpages_shared import car_rows, keys
from carpages_shared.car_rows import CarRecord

from carpages_cdc.builder import CacheBuilder, CountingQuery, chunks
from carpages_cdc.cache_diff import (
    BuyerCache,
    CarCache,
    CarExpectation,
    buyer_diff,
    car_diff,
    expect_car,
)
from carpages_cdc.cache_writer import slug_map

CHUNK = 500


def load(builder: CacheBuilder, ids: list[int]) -> dict[int, CarRecord]:
    """Fresh rows in a fresh transaction (each call sees the database as it is now)."""
    conn = builder.connect()
    try:
        return car_rows.load_cars(CountingQuery(conn), ids) if ids else {}
    finally:
        conn.close()


def read_cars(client: Any, build: int, cars: dict[int, CarRecord],
               ids: list[int]) -> dict[int, list[str]]:
    """Per-car differences between Valkey and the expectation (non-live cars must be gone)."""
    diffs: dict[int, list[str]] = {}
    for batch in chunks(ids, CHUNK):
        pipe = client.pipeline(transaction=False)
        wants: dict[int, CarExpectation] = {}
        for car_id in batch:
            car = cars.get(car_id)
            if car is None or car.status != car_rows.LIVE:
                for method, *args in _gone_checks(build, car_id):
                    getattr(pipe, method)(*args)
                continue
            want = wants[car_id] = expect_car(build, car)
            pipe.get(keys.dedicated_page(car_id))
            pipe.hget(keys.cards(build), str(car_id))
            pipe.hgetall(keys.car_private(car_id))
            pipe.smembers(keys.car_interested(car_id))
            pipe.hget(keys.memberships(build), str(car_id))
            pipe.zscore(keys.live_cars(build), car_id)
            pipe.zscore(keys.popularity(build), car_id)
            for key in want.sets:
                pipe.sismember(key, car_id)
            for key in want.scores:
                pipe.zscore(key, car_id)
        results = iter(pipe.execute())
        for car_id in batch:
            expected = wants.get(car_id)
            if expected is None:
                left = [name for name in _GONE if _present(name, next(results))]
                if left:
                    diffs[car_id] = [f"not live but cached: {', '.join(left)}"]
                continue
            got = CarCache(
                page=next(results), card=next(results),
                private={k.decode(): v for k, v in next(results).items()},
                interested={int(m) for m in next(results)}, entry=next(results),
                universe=next(results), popularity=next(results))
            got.members = {key: bool(next(results)) for key in expected.sets}
            got.scores = {key: next(results) for key in expected.scores}
            found = car_diff(car_id, expected, got)
            if found:
                diffs[car_id] = found
    return diffs


_GONE = ("page", "private", "universe", "card", "memberships", "popularity",
         *(f"score {f}" for f in keys.NUMERIC_FIELDS))


def _present(name: str, value: Any) -> bool:
    """EXISTS/HEXISTS answer 0/False when absent; ZSCORE answers None (0.0 is a score)."""
    if name.startswith(("universe", "popularity", "score")):
        return value is not None
    return bool(value)


def _gone_checks(build: int, car_id: int) -> list[tuple[Any, ...]]:
    """Reads that must all come back empty for a car that is not live (in _GONE's order)."""
    return [("exists", keys.dedicated_page(car_id)), ("exists", keys.car_private(car_id)),
            ("zscore", keys.live_cars(build), car_id), ("hexists", keys.cards(build), str(car_id)),
            ("hexists", keys.memberships(build), str(car_id)),
            ("zscore", keys.popularity(build), car_id),
            *(("zscore", keys.numeric_index(build, f), car_id) for f in keys.NUMERIC_FIELDS)]


def check_cars(builder: CacheBuilder, build: int, ids: list[int]) -> dict[int, list[str]]:
    """Differences for the given cars (any status) against a fresh read."""
    diffs: dict[int, list[str]] = {}
    for batch in chunks(ids, CHUNK):
        diffs.update(read_cars(builder.client, build, load(builder, list(batch)), list(batch)))
    return diffs


def cached_ids(client: Any, build: int) -> set[int]:
    """Every car id the listing generation mentions anywhere outside the set indexes."""
    found = {int(m) for m in client.zrange(keys.live_cars(build), 0, -1)}
    found |= {int(m) for m in client.hkeys(keys.cards(build))}
    found |= {int(m) for m in client.hkeys(keys.memberships(build))}
    found |= {int(m) for m in client.zrange(keys.popularity(build), 0, -1)}
    for name in keys.NUMERIC_FIELDS:
        found |= {int(m) for m in client.zrange(keys.numeric_index(build, name), 0, -1)}
    return found


def stray_members(builder: CacheBuilder, build: int) -> set[tuple[str, int]]:
    """Set-index members that no live car's current entry explains."""
    client = builder.client
    value_sets = {keys.set_values(build, f) for f in keys.SET_FIELDS}
    registry = sorted(k.decode() for k in client.smembers(keys.build_registry(build)))
    members = {key: {int(m) for m in client.smembers(key)}
               for key in registry if key not in value_sets}
    involved = sorted(set().union(*members.values())) if members else []
    cars = {}
    for batch in chunks(involved, CHUNK):
        cars.update(load(builder, list(batch)))
    expected: dict[str, set[int]] = {}
    for car in cars.values():
        if car.status == car_rows.LIVE:
            for key in expect_car(build, car).sets:
                expected.setdefault(key, set()).add(car.id)
    return {(key, car_id) for key, ids in members.items()
            for car_id in ids - expected.get(key, set())}


def check_buyers(builder: CacheBuilder, ids: list[int]) -> dict[int, list[str]]:
    """Differences of the given buyers' keys against a fresh read."""
    client, diffs = builder.client, {}
    for batch in chunks(ids, CHUNK):
        conn = builder.connect()
        try:
            buyers = car_rows.load_buyers(CountingQuery(conn), list(batch))
        finally:
            conn.close()
        pipe = client.pipeline(transaction=False)
        for buyer_id in batch:
            pipe.smembers(keys.buyer_seen(buyer_id))
            pipe.smembers(keys.buyer_test_drives(buyer_id))
            pipe.hgetall(keys.buyer_offers(buyer_id))
            pipe.get(keys.buyer_paid_until(buyer_id))
        results = iter(pipe.execute())
        for buyer_id in batch:
            seen, tds, offers, paid = (next(results) for _ in range(4))
            got = BuyerCache({int(s) for s in seen}, {int(t) for t in tds},
                             {int(c): int(a) for c, a in offers.items()},
                             int(paid) if paid is not None else None)
            found = buyer_diff(buyers[buyer_id], got)
            if found:
                diffs[buyer_id] = found
    return diffs


def slugs_differ(builder: CacheBuilder) -> bool:
    """Whether the slug map differs from the slug table."""
    conn = builder.connect()
    try:
        rows = CountingQuery(conn)(car_rows.SLUGS_SQL, ())
    finally:
        conn.close()
    got = {k.decode(): v for k, v in builder.client.hgetall(keys.slugs()).items()}
    return got != slug_map(rows)


def ids(builder: CacheBuilder, sql: str) -> list[int]:
    """The first column of a query, as ints."""
    conn = builder.connect()
    try:
        return [int(r[0]) for r in CountingQuery(conn)(sql, ())]
    finally:
        conn.close()
