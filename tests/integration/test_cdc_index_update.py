"""A car whose index entry changed is moved by a diff (update_index): the end state in Valkey is
exactly what removing it from every recorded index and adding it again leaves."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pymysql
import valkey
from carpages_cdc.cache import writer as cache_writer
from carpages_local import stack
from carpages_shared import car_rows
from carpages_shared.assembly import index_entry
from carpages_shared.car_rows import CarRecord
from carpages_shared.dsn import mysql_params

from tests.conftest import mysql_url
from tests.integration.test_builder import dump_build


def load(env: stack.StackEnv, database: str, count: int) -> list[CarRecord]:
    conn = pymysql.connect(**mysql_params(mysql_url(env, database)))
    try:
        def query(sql: str, params: Any) -> list[tuple[Any, ...]]:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())

        cars = car_rows.load_cars(query, list(range(1, count + 1)))
    finally:
        conn.close()
    return [c for c in cars.values() if c.status == car_rows.LIVE]


def earlier(car: CarRecord, rng: random.Random) -> CarRecord:
    """The same car as it might have been before: other city, features, price, owner."""
    features = list(car.features)
    rng.shuffle(features)
    return dataclasses.replace(
        car, city=(car.city[0] + 1000, "Elsewhere"), price=car.price + rng.randrange(1, 9999),
        owner_count=car.owner_count % 4 + 1,
        fuel_type="electric" if car.fuel_type != "electric" else "petrol",
        features=[*features[: len(features) // 2], (90_000 + car.id, "Gone", "misc")])


def test_update_index_equals_remove_then_add(stack_env: stack.StackEnv, seeded_db: str,
                                             valkey_sync: valkey.Valkey) -> None:
    rng = random.Random(11)
    cars = load(stack_env, seeded_db, 120)
    before = [earlier(c, rng) for c in cars]
    diffed, rebuilt = 700, 701
    for build in (diffed, rebuilt):
        pipe = valkey_sync.pipeline(transaction=False)
        cache_writer.write_new_generation(pipe, build, before)
        pipe.execute()
    pipe = valkey_sync.pipeline(transaction=False)
    for old, new in zip(before, cars, strict=True):
        cache_writer.update_index(pipe, diffed, new.id, index_entry(old), index_entry(new))
        # What write_car did before the diff: out of everything recorded, then in again.
        cache_writer.remove_index(pipe, rebuilt, new.id, index_entry(old))
        cache_writer.add_index(pipe, rebuilt, new.id, index_entry(new))
    pipe.execute()
    got, want = dump_build(valkey_sync, diffed), dump_build(valkey_sync, rebuilt)
    # remove_index also drops the card and popularity, which write_car writes again anyway.
    for name in ("cards", "pop"):
        got.pop(name, None)
        want.pop(name, None)
    assert {"all", "members", "n:price", "keys"} <= set(want)
    assert got == want


def test_an_unchanged_entry_is_left_alone(stack_env: stack.StackEnv, seeded_db: str,
                                          valkey_sync: valkey.Valkey) -> None:
    car = load(stack_env, seeded_db, 5)[0]
    pipe = valkey_sync.pipeline(transaction=False)
    cache_writer.write_new_generation(pipe, 702, [car])
    pipe.execute()
    snapshot = dump_build(valkey_sync, 702)
    pipe = valkey_sync.pipeline(transaction=False)
    changed = cache_writer.write_car(pipe, 702, car, index_entry(car))
    pipe.execute()
    assert not changed
    assert dump_build(valkey_sync, 702) == snapshot
