"""The cache builder against real MariaDB and Valkey: contents, batching, generations, removal."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pymysql
import pytest
import valkey
from carpages_cdc.cache.builder import CacheBuilder, current_build
from carpages_local import servers, stack
from carpages_shared import keys
from carpages_shared.dsn import mysql_params

from tests.conftest import SEEDED_CARS, mysql_url, root_conn
from tests.integration.sql_oracle import SqlOracle

TERMINAL = ("sold", "withdrawn")


def connector(env: stack.StackEnv, database: str) -> Callable[[], Any]:
    params = mysql_params(mysql_url(env, database))
    return lambda: pymysql.connect(**params)


@pytest.fixture
def oracle_for(stack_env: stack.StackEnv) -> Iterator[Callable[[str], SqlOracle]]:
    """Independent SQL readers (autocommit, so each sees the latest writes)."""
    conns: list[pymysql.connections.Connection[Any]] = []

    def make(database: str) -> SqlOracle:
        conn = stack.connect(stack_env.mysql_port, database=database, autocommit=True)
        conns.append(conn)
        return SqlOracle(conn)

    yield make
    for conn in conns:
        conn.close()


def execute(env: stack.StackEnv, database: str, sql: str, *params: Any) -> None:
    conn = stack.connect(env.mysql_port, database=database, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


def cached_json(client: valkey.Valkey, key: str) -> Any:
    raw = client.get(key)
    return None if raw is None else orjson.loads(raw)


def index_members(client: valkey.Valkey, build: int) -> dict[str, set[int]]:
    """Every set and sorted-set index of a build, as key -> car ids."""
    out: dict[str, set[int]] = {}
    for raw in client.smembers(keys.build_registry(build)):
        key = raw.decode()
        if key.startswith(keys.build_prefix(build) + "f:"):
            out[key] = {int(m) for m in client.smembers(key)}
    for name in keys.NUMERIC_FIELDS:
        key = keys.numeric_index(build, name)
        out[key] = {int(m) for m in client.zrange(key, 0, -1)}
    for key in (keys.live_cars(build), keys.popularity(build)):
        out[key] = {int(m) for m in client.zrange(key, 0, -1)}
    return out


def assert_absent_everywhere(client: valkey.Valkey, build: int, car_ids: list[int]) -> None:
    for car_id in car_ids:
        assert client.exists(keys.dedicated_page(car_id), keys.car_private(car_id),
                             keys.car_interested(car_id)) == 0
        assert client.hget(keys.cards(build), str(car_id)) is None
        assert client.hget(keys.memberships(build), str(car_id)) is None
    for key, members in index_members(client, build).items():
        assert not members & set(car_ids), key


# ----------------------------------------------------------------------------- contents


def test_full_build_matches_an_independent_sql_assembly(
        stack_env: stack.StackEnv, seeded_db: str, valkey_sync: valkey.Valkey,
        oracle_for: Callable[[str], SqlOracle]) -> None:
    stats = CacheBuilder(connector(stack_env, seeded_db), valkey_sync).full_rebuild()
    oracle = oracle_for(seeded_db)
    live = oracle.ids("status = 'live'")
    assert stats.cars_written == len(live) == SEEDED_CARS
    build = current_build(valkey_sync)
    assert build == (stats.build, 0)
    for car_id in live:
        assert cached_json(valkey_sync, keys.dedicated_page(car_id)) == oracle.page(car_id)
    rng = random.Random(3)
    sample = rng.sample(live, 150)
    for car_id in sample:
        card = valkey_sync.hget(keys.cards(stats.build), str(car_id))
        assert orjson.loads(card) == oracle.card(car_id)
        assert {int(b) for b in valkey_sync.smembers(keys.car_interested(car_id))} == (
            oracle.interested(car_id))
    assert valkey_sync.hlen(keys.cards(stats.build)) == len(live)
    assert {int(m) for m in valkey_sync.zrange(keys.live_cars(stats.build), 0, -1)} == set(live)


def test_private_data_lives_only_in_the_private_hash(
        stack_env: stack.StackEnv, seeded_db: str, valkey_sync: valkey.Valkey,
        oracle_for: Callable[[str], SqlOracle]) -> None:
    build = CacheBuilder(connector(stack_env, seeded_db), valkey_sync).full_rebuild().build
    oracle = oracle_for(seeded_db)
    with_report = 0
    for car_id in oracle.ids("status = 'live'"):
        expected = oracle.private(car_id)
        stored = valkey_sync.hgetall(keys.car_private(car_id))
        got = {k.decode(): v for k, v in stored.items()}
        assert got.keys() == expected.keys()
        assert got["seller_mobile_no"].decode() == expected["seller_mobile_no"]
        public = valkey_sync.get(keys.dedicated_page(car_id))
        card = valkey_sync.hget(keys.cards(build), str(car_id))
        for blob in (public, card):
            assert expected["seller_mobile_no"].encode() not in blob
            assert b"inspection_report" not in blob
            assert b"mobile" not in blob
        if "inspection_report" in expected:
            with_report += 1
            assert orjson.loads(got["inspection_report"]) == expected["inspection_report"]
            assert got["inspection_report"] not in public
    assert with_report > 0


def test_buyer_keys_match_sql(stack_env: stack.StackEnv, seeded_db: str,
                              valkey_sync: valkey.Valkey,
                              oracle_for: Callable[[str], SqlOracle]) -> None:
    stats = CacheBuilder(connector(stack_env, seeded_db), valkey_sync).full_rebuild()
    assert stats.buyers_written > 0
    oracle = oracle_for(seeded_db)
    buyers = [r[0] for r in oracle._all("SELECT id FROM buyer ORDER BY id")]
    for buyer_id in random.Random(5).sample(buyers, min(200, len(buyers))):
        expected = oracle.buyer(buyer_id)
        seen = {int(c) for c in valkey_sync.smembers(keys.buyer_seen(buyer_id))}
        drives = {int(c) for c in valkey_sync.smembers(keys.buyer_test_drives(buyer_id))}
        offers = {int(c): int(a) for c, a in
                  valkey_sync.hgetall(keys.buyer_offers(buyer_id)).items()}
        paid = valkey_sync.get(keys.buyer_paid_until(buyer_id))
        assert (seen, drives, offers) == (
            expected["seen"], expected["test_drives"], expected["offers"])
        assert (int(paid) if paid is not None else None) == expected["paid_until"]


# ----------------------------------------------------------------------------- batching


def test_statements_per_batch_do_not_grow_with_batch_size(
        stack_env: stack.StackEnv, seeded_db: str, valkey_sync: valkey.Valkey,
        oracle_for: Callable[[str], SqlOracle]) -> None:
    connect = connector(stack_env, seeded_db)
    CacheBuilder(connect, valkey_sync, batch_size=5000).full_rebuild()
    live = oracle_for(seeded_db).ids("status = 'live'")
    big = CacheBuilder(connect, valkey_sync, batch_size=5000)
    few = big.build_cars(live[:50]).statements
    many = big.build_cars(live[:1000]).statements
    assert few == many
    # Ten batches cost ten times one batch: the count is per batch, never per car.
    assert CacheBuilder(connect, valkey_sync, batch_size=100).build_cars(
        live[:1000]).statements == 10 * few


def test_full_rebuild_statements_do_not_grow_with_cars(
        stack_env: stack.StackEnv, seeded_db: str, mutable_seeded_db: str,
        valkey_url: str) -> None:
    counts = []
    for database in (mutable_seeded_db, seeded_db):
        client = valkey.Valkey.from_url(valkey_url)
        client.flushall()
        stats = CacheBuilder(connector(stack_env, database), client,
                             batch_size=5000).full_rebuild()
        counts.append((stats.cars_written, stats.statements))
        client.close()
    (small_cars, small_statements), (big_cars, big_statements) = counts
    assert small_cars < big_cars
    assert small_statements == big_statements


# ----------------------------------------------------------------------------- generations


def test_full_rebuild_switches_generations_atomically(
        stack_env: stack.StackEnv, seeded_db: str, valkey_sync: valkey.Valkey,
        valkey_url: str) -> None:
    connect = connector(stack_env, seeded_db)
    first = CacheBuilder(connect, valkey_sync, batch_size=250).full_rebuild()
    old_keys = [keys.cards(first.build), keys.live_cars(first.build),
                keys.memberships(first.build), keys.numeric_index(first.build, "price"),
                *(k.decode() for k in valkey_sync.smembers(keys.build_registry(first.build)))]
    assert all(valkey_sync.ttl(k) == -1 for k in old_keys)

    # A reader polling throughout the rebuild always finds a complete generation.
    seen_builds: set[int] = set()
    incomplete: list[tuple[int, int]] = []
    done = threading.Event()

    def read_while_building() -> None:
        reader = valkey.Valkey.from_url(valkey_url)
        while not done.is_set():
            pipe = reader.pipeline(transaction=True)
            pipe.hget(keys.meta(), "build")
            build = int(pipe.execute()[0])
            count = reader.hlen(keys.cards(build))
            seen_builds.add(build)
            if count != first.cars_written:
                incomplete.append((build, count))
        reader.close()

    thread = threading.Thread(target=read_while_building)
    thread.start()
    try:
        second = CacheBuilder(connect, valkey_sync, batch_size=250).full_rebuild()
    finally:
        done.set()
        thread.join()
    assert second.build != first.build
    assert current_build(valkey_sync) == (second.build, 0)
    assert incomplete == []
    assert first.build in seen_builds
    for key in old_keys:
        assert 0 < valkey_sync.ttl(key) <= keys.OLD_BUILD_TTL, key
    assert valkey_sync.ttl(keys.cards(second.build)) == -1
    assert valkey_sync.hlen(keys.cards(second.build)) == second.cars_written


# ----------------------------------------------------------------------------- terminal cars


def test_terminal_cars_are_absent_after_a_full_build(
        stack_env: stack.StackEnv, mutable_seeded_db: str, valkey_sync: valkey.Valkey,
        oracle_for: Callable[[str], SqlOracle]) -> None:
    oracle = oracle_for(mutable_seeded_db)
    live = oracle.ids("status = 'live'")
    sold, withdrawn, draft = live[3], live[10], live[20]
    builder = CacheBuilder(connector(stack_env, mutable_seeded_db), valkey_sync)
    builder.full_rebuild()
    for car_id, status in ((sold, "sold"), (withdrawn, "withdrawn"), (draft, "draft")):
        execute(stack_env, mutable_seeded_db, "UPDATE car SET status = %s WHERE id = %s",
                status, car_id)
    terminal = oracle.ids("status IN ('sold', 'withdrawn', 'draft')")
    assert {sold, withdrawn, draft} <= set(terminal)
    stats = builder.full_rebuild()
    assert stats.cars_written == len(live) - 3
    assert stats.cars_removed == 3
    assert_absent_everywhere(valkey_sync, stats.build, terminal)
    assert cached_json(valkey_sync, keys.dedicated_page(live[0])) == oracle.page(live[0])


@pytest.mark.parametrize("status", [*TERMINAL, "draft"])
def test_build_cars_removes_a_car_leaving_the_market(
        stack_env: stack.StackEnv, mutable_seeded_db: str, valkey_sync: valkey.Valkey,
        oracle_for: Callable[[str], SqlOracle], status: str) -> None:
    oracle = oracle_for(mutable_seeded_db)
    live = oracle.ids("status = 'live'")
    car_id, neighbour = live[7], live[8]
    builder = CacheBuilder(connector(stack_env, mutable_seeded_db), valkey_sync)
    build = builder.full_rebuild().build
    assert valkey_sync.exists(keys.dedicated_page(car_id)) == 1
    execute(stack_env, mutable_seeded_db, "UPDATE car SET status = %s WHERE id = %s",
            status, car_id)
    stats = builder.build_cars([car_id, neighbour])
    assert (stats.cars_written, stats.cars_removed, stats.index_changed) == (1, 1, True)
    assert current_build(valkey_sync) == (build, 1)  # query caches invalidated once
    assert_absent_everywhere(valkey_sync, build, [car_id])
    assert cached_json(valkey_sync, keys.dedicated_page(neighbour)) == oracle.page(neighbour)
    # Back on the market: everywhere again, exactly as a full build would write it.
    execute(stack_env, mutable_seeded_db, "UPDATE car SET status = 'live' WHERE id = %s",
            car_id)
    builder.build_cars([car_id])
    assert cached_json(valkey_sync, keys.dedicated_page(car_id)) == oracle.page(car_id)
    assert orjson.loads(valkey_sync.hget(keys.cards(build), str(car_id))) == oracle.card(car_id)
    assert car_id in {int(m) for m in valkey_sync.zrange(keys.live_cars(build), 0, -1)}


def test_price_change_moves_the_car_in_the_price_index(
        stack_env: stack.StackEnv, mutable_seeded_db: str, valkey_sync: valkey.Valkey,
        oracle_for: Callable[[str], SqlOracle]) -> None:
    oracle = oracle_for(mutable_seeded_db)
    car_id = oracle.ids("status = 'live'")[5]
    builder = CacheBuilder(connector(stack_env, mutable_seeded_db), valkey_sync)
    build = builder.full_rebuild().build
    execute(stack_env, mutable_seeded_db, "UPDATE car SET price = 123456 WHERE id = %s", car_id)
    stats = builder.build_cars([car_id])
    assert stats.index_changed
    assert valkey_sync.zscore(keys.numeric_index(build, "price"), str(car_id)) == 123456
    assert cached_json(valkey_sync, keys.dedicated_page(car_id)) == oracle.page(car_id)
    # Rebuilding an unchanged car changes no index and bumps no version.
    version = current_build(valkey_sync)
    assert not builder.build_cars([car_id]).index_changed
    assert current_build(valkey_sync) == version


def test_stale_paid_status_is_cleared_by_a_full_rebuild(
        stack_env: stack.StackEnv, mutable_seeded_db: str, valkey_sync: valkey.Valkey,
        oracle_for: Callable[[str], SqlOracle]) -> None:
    # A subscriber who has not looked at any car yet: nothing but paid_until marks them.
    execute(stack_env, mutable_seeded_db,
            "INSERT INTO buyer (name, mobile_no, paid_until) "
            "VALUES ('new', '+910', UTC_TIMESTAMP() + INTERVAL 30 DAY)")
    oracle = oracle_for(mutable_seeded_db)
    (buyer_id,) = oracle._all("SELECT MAX(id) FROM buyer")[0]
    builder = CacheBuilder(connector(stack_env, mutable_seeded_db), valkey_sync)
    builder.full_rebuild()
    assert valkey_sync.exists(keys.buyer_paid_until(buyer_id)) == 1
    # A refund: the subscription is gone from MySQL, so it must go from the cache too.
    execute(stack_env, mutable_seeded_db, "UPDATE buyer SET paid_until = NULL WHERE id = %s",
            buyer_id)
    builder.full_rebuild()
    assert valkey_sync.exists(keys.buyer_paid_until(buyer_id)) == 0


CAR_TABLES = ("car", "variant", "model", "make", "color", "locality", "city", "seller",
              "car_image", "car_feature", "feature", "inspection_report", "interaction",
              "offer", "test_drive")


@pytest.fixture
def no_buyer_access(stack_env: stack.StackEnv, seeded_db: str) -> Iterator[Callable[[], Any]]:
    """A MySQL user that may read the car tables but not `buyer`: builds fail half way."""
    user, password = "carpages_nobuyer", "nobuyer-local"
    admin = root_conn(stack_env)
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'")
        for table in CAR_TABLES:
            cur.execute(f"GRANT SELECT ON {seeded_db}.{table} TO '{user}'@'127.0.0.1'")
    try:
        yield lambda: pymysql.connect(host="127.0.0.1", port=stack_env.mysql_port, user=user,
                                      password=password, database=seeded_db)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'127.0.0.1'")
        admin.close()


def test_failed_rebuild_never_switches_and_expires_its_partial_generation(
        stack_env: stack.StackEnv, seeded_db: str, valkey_sync: valkey.Valkey,
        no_buyer_access: Callable[[], Any]) -> None:
    good = CacheBuilder(connector(stack_env, seeded_db), valkey_sync).full_rebuild()
    with pytest.raises(pymysql.err.OperationalError):
        CacheBuilder(no_buyer_access, valkey_sync, batch_size=500).full_rebuild()
    assert current_build(valkey_sync) == (good.build, 0)
    partial = int(valkey_sync.get(keys.build_counter()))  # the failed rebuild's number
    assert partial > good.build
    assert valkey_sync.hlen(keys.cards(partial)) > 0  # the car batches had been written
    for key in (keys.cards(partial), keys.live_cars(partial), keys.build_registry(partial)):
        assert 0 < valkey_sync.ttl(key) <= keys.OLD_BUILD_TTL
    assert valkey_sync.ttl(keys.cards(good.build)) == -1
    assert valkey_sync.exists(keys.rebuild_lock()) == 0  # the next rebuild may run


def test_rebuild_command_builds_from_the_stack_environment(
        stack_env: stack.StackEnv, mutable_seeded_db: str, valkey_sync: valkey.Valkey,
        valkey_url: str) -> None:
    # What `make rebuild` runs after sourcing .stack/env.
    cdc = (f"mysql://{servers.CDC_USER}:{servers.CDC_PASSWORD}@127.0.0.1:"
           f"{stack_env.mysql_port}/{mutable_seeded_db}")
    env = {**os.environ, "MYSQL_URL": mysql_url(stack_env, mutable_seeded_db),
           "MYSQL_CDC_URL": cdc, "VALKEY_URL": valkey_url}
    done = subprocess.run([sys.executable, "-m", "carpages_cdc", "rebuild"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    build = current_build(valkey_sync)
    assert build is not None
    assert f"rebuild: build {build[0]}:" in done.stdout
    assert valkey_sync.hlen(keys.cards(build[0])) == valkey_sync.zcard(keys.live_cars(build[0]))
    assert valkey_sync.zcard(keys.live_cars(build[0])) > 0


def test_listing_indexes_match_sql(stack_env: stack.StackEnv, seeded_db: str,
                                   valkey_sync: valkey.Valkey,
                                   oracle_for: Callable[[str], SqlOracle]) -> None:
    build = CacheBuilder(connector(stack_env, seeded_db), valkey_sync,
                         batch_size=400).full_rebuild().build
    oracle = oracle_for(seeded_db)
    live = "c.status = 'live'"
    expected: dict[str, set[int]] = {}
    for field, sql in (
            ("city_id", "SELECT l.city_id, c.id FROM car c JOIN locality l "
                        f"ON l.id = c.locality_id WHERE {live}"),
            ("make_id", "SELECT m.make_id, c.id FROM car c JOIN variant v ON v.id = c.variant_id "
                        f"JOIN model m ON m.id = v.model_id WHERE {live}"),
            ("fuel_type", f"SELECT c.fuel_type, c.id FROM car c WHERE {live}"),
            ("owner", f"SELECT c.owner_count, c.id FROM car c WHERE {live}"),
            ("feature", "SELECT cf.feature_id, c.id FROM car c JOIN car_feature cf "
                        f"ON cf.car_id = c.id WHERE {live}")):
        for value, car_id in oracle._all(sql):
            expected.setdefault(keys.set_index(build, field, value), set()).add(car_id)
        values = {m.decode() for m in valkey_sync.smembers(keys.set_values(build, field))}
        assert values == {str(v) for v, _ in oracle._all(sql)}, field
    for key, car_ids in expected.items():
        assert {int(m) for m in valkey_sync.smembers(key)} == car_ids, key
    prices = dict(oracle._all(f"SELECT c.id, c.price FROM car c WHERE {live}"))
    cached = {int(m): s for m, s in valkey_sync.zrange(keys.numeric_index(build, "price"), 0, -1,
                                                       withscores=True)}
    assert cached == {car_id: float(price) for car_id, price in prices.items()}
    registry = {k.decode() for k in valkey_sync.smembers(keys.build_registry(build))}
    assert set(expected) <= registry


def dump_build(client: valkey.Valkey, build: int) -> dict[str, Any]:
    """Every key of a build (prefix stripped) with its contents, whatever its type."""
    prefix = keys.build_prefix(build)
    out: dict[str, Any] = {}
    for raw in client.scan_iter(match=prefix.replace("{", "\\{").replace("}", "\\}") + "*"):
        key = raw.decode()
        kind = client.type(key).decode()
        value: Any = {"set": lambda k: {m for m in client.smembers(k)},
                      "zset": lambda k: dict(client.zrange(k, 0, -1, withscores=True)),
                      "hash": client.hgetall, "string": client.get}[kind](key)
        if key == keys.build_registry(build):
            value = {m.decode().removeprefix(prefix) for m in value}
        out[key.removeprefix(prefix)] = value
    return out


def test_full_rebuild_writer_equals_incremental_writer(
        stack_env: stack.StackEnv, seeded_db: str, valkey_sync: valkey.Valkey) -> None:
    from carpages_cdc.cache import writer as cache_writer
    from carpages_shared import car_rows

    conn = connector(stack_env, seeded_db)()
    try:
        def query(sql: str, params: Any) -> list[tuple[Any, ...]]:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())

        cars = car_rows.load_cars(query, list(range(1, 301)))
    finally:
        conn.close()
    incremental, batched = 900, 901
    pipe = valkey_sync.pipeline(transaction=False)
    cache_writer.write_cars(pipe, incremental, sorted(cars), cars, {})
    pipe.execute()
    pages = {car_id: valkey_sync.get(keys.dedicated_page(car_id)) for car_id in cars}
    pipe = valkey_sync.pipeline(transaction=False)
    written = cache_writer.write_new_generation(pipe, batched, cars.values())
    pipe.execute()
    assert written == sum(car.status == "live" for car in cars.values()) > 0
    expected = dump_build(valkey_sync, incremental)
    assert {"cards", "all", "members", "pop", "keys", "n:price"} <= set(expected)
    assert dump_build(valkey_sync, batched) == expected
    assert {car_id: valkey_sync.get(keys.dedicated_page(car_id)) for car_id in cars} == pages
