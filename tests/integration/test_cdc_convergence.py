"""The applier's writes converge by construction (real MariaDB and Valkey, no broker).

- stale entities spread over many builder batches no longer exhaust the retries (the applier
  used to give up with FenceContention after 8 refusals and then hit the same batch forever);
- an entity whose build fails for a reason that is not transient is quarantined, the rest of
  the batch is written, and the repair pass builds it once it can be built;
- the full-rebuild lock of a builder that died lapses within its lease.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from carpages_cdc.apply.cache_apply import CacheApplier
from carpages_cdc.apply.quarantine import Quarantine
from carpages_cdc.apply.work import Work
from carpages_cdc.cache.builder import BuildStats, CacheBuilder
from carpages_cdc.cache.rebuild_lock import RebuildLock, RebuildRunning
from carpages_cdc.metrics import Metrics
from carpages_cdc.position import fence_token
from carpages_local import stack
from carpages_shared import keys

from tests.integration.cdc_support import local_builder, page, query


@pytest.fixture
def builder(stack_env: stack.StackEnv, mutable_seeded_db: str,
            valkey_url: str) -> Iterator[CacheBuilder]:
    made = local_builder(stack_env, mutable_seeded_db, valkey_url)
    made.batch_size = 10  # many fenced batches per rebuild
    made.full_rebuild()
    yield made
    made.client.close()


def live_ids(env: stack.StackEnv, database: str, limit: int) -> list[int]:
    rows = query(env.mysql_port, database,
                 "SELECT id FROM car WHERE status = 'live' ORDER BY id LIMIT %s", (limit,))
    return [int(r[0]) for r in rows]


def test_stale_entities_in_every_batch_do_not_block_the_rest(
        builder: CacheBuilder, stack_env: stack.StackEnv, mutable_seeded_db: str) -> None:
    ids = live_ids(stack_env, mutable_seeded_db, 120)  # 12 builder batches of 10
    old, new = fence_token("binlog.000001", 1000, 0), fence_token("binlog.000001", 9000, 0)
    stale = ids[::10]  # one car per batch already holds a newer state
    for car in stale:
        builder.client.set(keys.car_position(car), new)
    with stack.connect(stack_env.mysql_port, database=mutable_seeded_db) as conn:
        with conn.cursor() as cur:
            cur.execute("UPDATE car SET price = price + 1000 WHERE id IN %s", (ids,))
        conn.commit()
    prices = dict(query(stack_env.mysql_port, mutable_seeded_db,
                        "SELECT id, price FROM car WHERE id IN %s", (ids,)))

    applied = CacheApplier(builder, Metrics()).apply(Work(cars=dict.fromkeys(ids, old)))

    assert applied.refused == len(stale)
    assert applied.quarantined == 0
    fresh = [c for c in ids if c not in stale]
    assert all(page(builder.client, c)["price"] == prices[c] for c in fresh)  # type: ignore[index]
    assert all(builder.client.get(keys.car_position(c)) == old.encode() for c in fresh)


class Poisoned(CacheBuilder):
    """A builder for which some cars cannot be built (as a car with impossible data)."""

    poisoned: set[int]

    def build_cars(self, car_ids: Iterable[int], fence: Any = None,
                   build: int | None = None) -> BuildStats:
        ids = list(car_ids)
        bad = self.poisoned.intersection(ids)
        if bad:
            raise ValueError(f"cannot assemble cars {sorted(bad)}")
        return super().build_cars(ids, fence=fence, build=build)


def test_a_car_that_cannot_be_built_is_quarantined_then_repaired(
        builder: CacheBuilder, stack_env: stack.StackEnv, mutable_seeded_db: str) -> None:
    poisoned = Poisoned(builder.connect, builder.client, batch_size=10)
    ids = live_ids(stack_env, mutable_seeded_db, 40)
    bad = ids[17]
    poisoned.poisoned = {bad}
    with stack.connect(stack_env.mysql_port, database=mutable_seeded_db) as conn:
        with conn.cursor() as cur:
            cur.execute("UPDATE car SET price = 123456 WHERE id IN %s", (ids,))
        conn.commit()
    metrics = Metrics()
    cache = CacheApplier(poisoned, metrics)
    token = fence_token("binlog.000001", 5000, 0)

    applied = cache.apply(Work(cars=dict.fromkeys(ids, token)))

    assert applied.quarantined == 1
    assert Quarantine(builder.client).members() == {"cars": [bad]}
    assert all(page(builder.client, c)["price"] == 123456  # type: ignore[index]
               for c in ids if c != bad)
    assert page(builder.client, bad)["price"] != 123456  # type: ignore[index]
    assert metrics.quarantined.labels("cars")._value.get() == 1

    assert cache.repair() == (0, 1)  # still failing: stays
    poisoned.poisoned = set()
    assert cache.repair() == (1, 0)
    assert Quarantine(builder.client).members() == {}
    assert page(builder.client, bad)["price"] == 123456  # type: ignore[index]


def test_a_dead_builders_rebuild_lock_lapses_within_its_lease(builder: CacheBuilder) -> None:
    client = builder.client
    # A builder killed mid-rebuild: its lock is there, nobody renews it.
    client.set(keys.rebuild_lock(), "someone-dead", px=1500)
    with pytest.raises(RebuildRunning):
        builder.full_rebuild()
    started = time.monotonic()
    while client.exists(keys.rebuild_lock()):
        assert time.monotonic() - started < 3
        time.sleep(0.05)
    stats = builder.full_rebuild()
    assert stats.cars_written > 0
    assert not client.exists(keys.rebuild_lock())


def test_a_running_rebuild_keeps_renewing_its_lock(builder: CacheBuilder) -> None:
    client = builder.client
    with RebuildLock(client, ttl_ms=600):
        time.sleep(1.5)  # more than two leases
        assert client.exists(keys.rebuild_lock())
        with pytest.raises(RebuildRunning):
            builder.full_rebuild()
    assert not client.exists(keys.rebuild_lock())


def test_build_numbers_never_come_back_after_valkey_lost_its_data(
        builder: CacheBuilder) -> None:
    """Readers keep copies by (build, version): a number reused after a flush would name other
    contents, and they would serve the old ones."""
    client = builder.client
    first = builder.full_rebuild().build
    client.flushall()
    second = builder.full_rebuild().build
    assert second > first
    client.set(keys.build_counter(), 5)  # a snapshot from long ago, restored
    assert builder.full_rebuild().build > second
