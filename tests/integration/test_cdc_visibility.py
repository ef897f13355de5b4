"""A batch is read only once its newest change's commit is visible (real MariaDB and Valkey).

The binlog hands a change to the pipeline a moment before its commit is visible. The test
stands in for that moment by handing the applier a change whose transaction is still open
(it holds the row's lock, as a committing transaction does): the applier must wait for the
commit and write the committed state, not the state before it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from carpages_cdc.apply.cache_apply import Applied, CacheApplier
from carpages_cdc.apply.plan import plan
from carpages_cdc.apply.visibility import changed_row, locking_read
from carpages_cdc.apply.work import Work
from carpages_cdc.cache.builder import CacheBuilder
from carpages_cdc.metrics import Metrics
from carpages_cdc.position import fence_token
from carpages_local import stack
from carpages_shared import keys

from tests.integration.cdc_support import local_builder


@pytest.fixture
def builder(stack_env: stack.StackEnv, mutable_seeded_db: str,
            valkey_url: str) -> Iterator[CacheBuilder]:
    made = local_builder(stack_env, mutable_seeded_db, valkey_url)
    made.full_rebuild()
    yield made
    made.client.close()


def _live_car_and_price(builder: CacheBuilder) -> tuple[int, int]:
    conn = builder.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, price FROM car WHERE status = 'live' ORDER BY id LIMIT 1")
            car, price = cur.fetchone()
            return int(car), int(price)
    finally:
        conn.close()


def _page_price(builder: CacheBuilder, car: int) -> int:
    raw = builder.client.get(keys.dedicated_page(car))
    assert raw is not None
    return int(orjson.loads(raw)["price"])


def _apply_in_thread(applier: CacheApplier, car: int, token: str,
                     wait: bool) -> tuple[threading.Thread, list[Applied]]:
    newest = changed_row("car", orjson.dumps({"id": car}), token) if wait else None
    out: list[Applied] = []
    thread = threading.Thread(
        target=lambda: out.append(applier.apply(Work(cars={car: token}), newest=newest)))
    thread.start()
    return thread, out


@pytest.mark.parametrize("wait", [True, False], ids=["waits", "without-the-wait"])
def test_a_change_is_read_only_once_its_commit_is_visible(builder: CacheBuilder,
                                                          wait: bool) -> None:
    car, price = _live_car_and_price(builder)
    writer: Any = builder.connect()
    with writer.cursor() as cur:
        cur.execute("UPDATE car SET price = %s WHERE id = %s", (price + 777, car))  # not committed
    thread, out = _apply_in_thread(CacheApplier(builder, Metrics()), car,
                                   fence_token("binlog.000009", 4), wait)
    time.sleep(0.5)
    still_waiting = thread.is_alive()
    writer.commit()
    writer.close()
    thread.join(30)
    assert out, "the apply never finished"
    if wait:
        assert still_waiting, "the applier read before the change's commit was visible"
        assert _page_price(builder, car) == price + 777
    else:
        # The hazard the wait removes: the state before the commit, under the change's token.
        assert not still_waiting
        assert _page_price(builder, car) == price


def test_a_row_held_by_a_later_transaction_does_not_stall_the_batch(
        builder: CacheBuilder) -> None:
    car, price = _live_car_and_price(builder)
    holder: Any = builder.connect()
    with holder.cursor() as cur:
        cur.execute("SELECT id FROM car WHERE id = %s FOR UPDATE", (car,))
    metrics = Metrics()
    applier = CacheApplier(builder, metrics, visible_wait_s=1)
    started = time.monotonic()
    try:
        thread, out = _apply_in_thread(applier, car, fence_token("binlog.000009", 8), True)
        thread.join(30)
    finally:
        holder.rollback()
        holder.close()
    assert out
    assert 1.0 <= time.monotonic() - started < 10
    assert metrics.visibility_timeouts._value.get() == 1
    assert _page_price(builder, car) == price


def test_the_plan_names_a_row_of_its_newest_change() -> None:
    def message(table: str, key: dict[str, Any] | None, pos: int, row: int = 0) -> Any:
        value = {"op": "update", "database": "db", "table": table,
                 "before": {"id": 1, "price": 1}, "after": {"id": 1, "price": 2},
                 "source": {"file": "binlog.000002", "pos": pos, "row": row, "ts_ms": 0,
                            "server_id": 1}}
        return type("M", (), {"topic": f"db.{table}", "partition": 0, "offset": pos,
                              "key": orjson.dumps(key) if key is not None else None,
                              "value": orjson.dumps(value)})()

    batch = plan([message("car", {"id": 7}, 900), message("car", {"id": 8}, 1200, 1),
                  message("car", {"id": 9}, 1200, 0), message("car", None, 1300)], "db", "p")
    assert batch.newest is not None
    assert (batch.newest.table, batch.newest.key) == ("car", (("id", 8),))
    assert locking_read(batch.newest) == (
        "SELECT 1 FROM `car` WHERE `id` = %s LOCK IN SHARE MODE", [8])
    assert changed_row("car", b'{"schema": {}, "payload": {"id": 3}}', "t").key == (("id", 3),)
    assert changed_row("odd`name", b'{"a": 1, "b": "x"}', "t") is not None
    assert locking_read(changed_row("odd`name", b'{"b": "x", "a": 1}', "t"))[0] == (
        "SELECT 1 FROM `odd``name` WHERE `a` = %s AND `b` = %s LOCK IN SHARE MODE")
    for unusable in (None, b"", b"not json", b"[1]", b"{}", b'{"id": null}', b'{"id": 1.5}'):
        assert changed_row("car", unusable, "t") is None
