"""Fencing with two appliers and forced interleaving (real MariaDB and Valkey, no broker).

Each applier is the same CacheApplier the `apply` role runs; the test seam `before_write` holds
one of them after it read MySQL and before its Valkey write, so the other overtakes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pymysql
import pytest
from carpages_cdc.apply.cache_apply import Applied, CacheApplier
from carpages_cdc.apply.work import Work
from carpages_cdc.audit.reconcile import reconcile
from carpages_cdc.cache.builder import CacheBuilder
from carpages_cdc.metrics import Metrics
from carpages_cdc.position import fence_token
from carpages_local import stack
from carpages_shared import keys

from tests.integration.cdc_support import CacheTarget


@pytest.fixture
def builder(stack_env: stack.StackEnv, mutable_seeded_db: str,
            cache_target: CacheTarget) -> Iterator[CacheBuilder]:
    """A built cache on a standalone Valkey, then on a cluster (where every fenced write is
    split by slot: the interleavings below must end the same way)."""
    made = cache_target.builder(stack_env, mutable_seeded_db)
    made.full_rebuild()
    yield made
    made.client.close()


class Held:
    """A before_write hook that parks the first write until released."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()
        self.used = False

    def __call__(self) -> None:
        if not self.used:
            self.used = True
            self.reached.set()
            assert self.release.wait(30)


def in_thread(apply: Callable[[], Applied]) -> tuple[threading.Thread, list[Applied]]:
    out: list[Applied] = []
    thread = threading.Thread(target=lambda: out.append(apply()))
    thread.start()
    return thread, out


def run(builder: CacheBuilder, sql: str, args: tuple[Any, ...]) -> None:
    conn: pymysql.connections.Connection[Any] = builder.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def one(builder: CacheBuilder, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    conn = builder.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return tuple(cur.fetchone())
    finally:
        conn.close()


def test_an_older_rebuild_never_overwrites_a_newer_one(builder: CacheBuilder) -> None:
    client = builder.client
    x, y = (one(builder, "SELECT id FROM car WHERE status = 'live' ORDER BY id LIMIT 1 OFFSET %s",
                (n,))[0] for n in (0, 1))
    old, new = fence_token("binlog.000001", 1000), fence_token("binlog.000001", 2000)
    held = Held()
    slow = CacheApplier(builder, Metrics(), before_write=held)
    fast = CacheApplier(builder, Metrics())
    price = one(builder, "SELECT price FROM car WHERE id = %s", (x,))[0]
    # A: the change at `old` (car x, and car y) read MySQL ... and stalls before writing.
    thread, result = in_thread(lambda: slow.apply(Work(cars={x: old, y: old})))
    assert held.reached.wait(30)
    # B: a newer change (`new`) to car x commits and is applied first.
    run(builder, "UPDATE car SET price = %s WHERE id = %s", (price + 5000, x))
    fast.apply(Work(cars={x: new}))
    held.release.set()
    thread.join(30)
    page = orjson.loads(client.get(keys.dedicated_page(x)))
    assert page["price"] == price + 5000  # A's older read was refused ...
    assert client.get(keys.car_position(x)) == new.encode()
    assert result[0].refused == 1
    assert client.get(keys.car_position(y)) == old.encode()  # ... and the rest of A went in


def test_memberships_moved_underneath_are_reread(builder: CacheBuilder) -> None:
    client = builder.client
    build = int(client.hget(keys.meta(), "build"))
    x, first = one(builder, "SELECT c.id, l.city_id FROM car c JOIN locality l ON "
                            "l.id = c.locality_id WHERE c.status = 'live' ORDER BY c.id LIMIT 1")
    elsewhere = "SELECT id, city_id FROM locality WHERE city_id NOT IN %s ORDER BY id LIMIT 1"
    second = one(builder, elsewhere, ((first,),))
    third = one(builder, elsewhere, ((first, second[1]),))
    t2, t3 = fence_token("binlog.000002", 10), fence_token("binlog.000002", 20)
    # B read the car while it was in the second city (change t2) and stalls.
    run(builder, "UPDATE car SET locality_id = %s WHERE id = %s", (second[0], x))
    held_b = Held()
    b = CacheApplier(builder, Metrics(), before_write=held_b)
    thread_b, _ = in_thread(lambda: b.apply(Work(cars={x: t2})))
    assert held_b.reached.wait(30)
    # A handles the newer change t3 (third city): it reads the car and the OLD memberships.
    run(builder, "UPDATE car SET locality_id = %s WHERE id = %s", (third[0], x))
    held_a = Held()
    a = CacheApplier(builder, Metrics(), before_write=held_a)
    thread_a, _ = in_thread(lambda: a.apply(Work(cars={x: t3})))
    assert held_a.reached.wait(30)
    # B writes first (second city), then A: its memberships read is stale, so it re-reads.
    held_b.release.set()
    thread_b.join(30)
    held_a.release.set()
    thread_a.join(30)
    assert client.sismember(keys.set_index(build, "city_id", third[1]), x)
    assert not client.sismember(keys.set_index(build, "city_id", second[1]), x)
    assert not client.sismember(keys.set_index(build, "city_id", first), x)
    assert client.get(keys.car_position(x)) == t3.encode()
    report = reconcile(builder, recheck_s=0)
    assert report.in_step, report.summary()
