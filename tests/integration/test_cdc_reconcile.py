"""Reconcile finds what diverges (pages, indexes, stray members, cars that left, buyers, slugs),
repairs it with --repair, and samples a divergence rate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from carpages_cdc.audit import reads as cache_audit
from carpages_cdc.audit.reconcile import BuildChanging, reconcile
from carpages_cdc.cache.builder import CacheBuilder
from carpages_cdc.cache.rebuild_lock import RebuildLock
from carpages_local import stack
from carpages_shared import keys

from tests.integration.cdc_support import CacheTarget, run_cli


@pytest.fixture
def builder(stack_env: stack.StackEnv, mutable_seeded_db: str,
            cache_target: CacheTarget) -> Iterator[CacheBuilder]:
    """A built cache on a standalone Valkey, then on a 3-node cluster."""
    made = cache_target.builder(stack_env, mutable_seeded_db)
    made.full_rebuild()
    yield made
    made.client.close()


def rows(builder: CacheBuilder, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = builder.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            result = [tuple(r) for r in cur.fetchall()]
        conn.commit()
        return result
    finally:
        conn.close()


def test_divergences_are_found_and_repaired(builder: CacheBuilder) -> None:
    client = builder.client
    build = int(client.hget(keys.meta(), "build"))
    assert reconcile(builder, recheck_s=0).in_step
    (a, city_a), (b, city_b), (c, _), (d, _) = rows(
        builder, "SELECT c.id, l.city_id FROM car c JOIN locality l ON l.id = c.locality_id "
                 "WHERE c.status = 'live' ORDER BY c.id LIMIT 4")
    other_city = rows(builder, "SELECT id FROM city WHERE id NOT IN (%s, %s) LIMIT 1",
                      (city_a, city_b))[0][0]
    buyer = rows(builder, "SELECT id FROM buyer ORDER BY id LIMIT 1")[0][0]
    stale = orjson.loads(client.get(keys.dedicated_page(a)))
    client.set(keys.dedicated_page(a), orjson.dumps({**stale, "price": 1}))
    client.srem(keys.set_index(build, "city_id", city_b), b)
    client.sadd(keys.set_index(build, "city_id", other_city), c)
    rows(builder, "UPDATE car SET status = 'sold' WHERE id = %s", (d,))  # no applier running
    client.set(keys.buyer_paid_until(buyer), 12345)
    slug = next(iter(client.hkeys(keys.slugs())))
    client.hdel(keys.slugs(), slug)

    report = reconcile(builder, recheck_s=0)
    assert not report.in_step
    assert report.divergent[a] == ["page"]
    assert report.divergent[b] == [f"index {keys.set_index(build, 'city_id', city_b)}"]
    assert report.divergent[d][0].startswith("not live but cached: page")
    stray = set(report.stray_members)
    assert (keys.set_index(build, "city_id", other_city), c) in stray
    assert {car for _, car in stray} == {c, d}  # d, gone from MySQL, is still in its indexes
    assert report.buyers_divergent[buyer] == ["paid_until"]
    assert report.slugs_divergent

    repaired = reconcile(builder, repair=True, recheck_s=0)
    assert repaired.repaired == 5 + len(stray)
    after = reconcile(builder, recheck_s=0)
    assert after.in_step, after.summary()
    assert client.get(keys.dedicated_page(d)) is None
    assert not client.sismember(keys.set_index(build, "city_id", other_city), c)


def test_sampled_reconcile_reports_a_rate(builder: CacheBuilder, stack_env: stack.StackEnv,
                                          mutable_seeded_db: str,
                                          cache_target: CacheTarget) -> None:
    live = rows(builder, "SELECT id FROM car WHERE status = 'live' ORDER BY id")
    client = builder.client
    for (car,) in live[:30]:  # 10% of the cars diverge
        client.delete(keys.dedicated_page(car))
    report = reconcile(builder, sample=0.5, recheck_s=0)
    assert report.cars_checked == 150
    assert 0 < report.divergence_rate < 0.3
    code, out = run_cli(cache_target.worker_env(stack_env, mutable_seeded_db), "reconcile",
                        "--sample", "0.5", "--recheck", "0")
    assert code == 1
    rate = float(re.search(r"divergence rate (\d\.\d+)", out)[1])  # type: ignore[index]
    assert 0 < rate < 0.3
    assert "cars checked 150" in out


def test_a_check_during_a_full_rebuild_is_not_reported(
        builder: CacheBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    # Changes stop flowing into the served build while a rebuild writes the next one; comparing
    # it then would report divergence nobody sees, so the check declines instead.
    client = builder.client
    with RebuildLock(client), pytest.raises(BuildChanging, match="full rebuild"):
        reconcile(builder, sample=0.1, recheck_s=0)
    build = int(client.hget(keys.meta(), "build"))
    check_cars = cache_audit.check_cars

    def switch_during_the_check(*args: Any) -> dict[int, list[str]]:
        client.hset(keys.meta(), "build", build + 1)  # a rebuild finished meanwhile
        return check_cars(*args)

    monkeypatch.setattr(cache_audit, "check_cars", switch_during_the_check)
    try:
        with pytest.raises(BuildChanging, match="replaced"):
            reconcile(builder, sample=0.1, recheck_s=0)
    finally:
        client.hset(keys.meta(), "build", build)
        monkeypatch.undo()
    assert reconcile(builder, sample=0.1, recheck_s=0).in_step
