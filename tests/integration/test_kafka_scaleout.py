"""Kafka scale-out: partitions are configuration; two appliers in one group split the work.

Seed 004: consumers in a group are bounded by partitions. With 4 partitions per topic, two
appliers each own part of every topic's partitions, both apply changes, and the cache converges
(reconcile finds 0 divergent).
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey
from carpages_local import servers, stack

from tests.conftest import drop_database, seeded_database
from tests.integration.cdc_support import (
    Workers,
    execute,
    page,
    query,
    run_cli,
    wait_until,
    worker_env,
)

PARTITIONS = 4


def _assigned(output: str) -> int:
    found = re.findall(r"partitions assigned: (\d+)", output)
    return int(found[-1]) if found else 0


def _applied(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("carpages_cdc_events_applied_total{"))


@pytest.fixture
def scaled(stack_env: stack.StackEnv, tmp_path: Path) -> Iterator[tuple[Workers, dict[str, str],
                                                                         str, valkey.Valkey]]:
    cache = servers.start_valkey(tmp_path / "valkey")
    db = seeded_database(stack_env, 300)
    client = valkey.Valkey(port=cache.port)
    workers = Workers(tmp_path)
    try:
        env = worker_env(stack_env, db, cache.port, CDC_TOPIC_PARTITIONS=str(PARTITIONS))
        yield workers, env, db, client
    finally:
        workers.stop_all()
        client.close()
        cache.stop()
        drop_database(stack_env, db)


def test_two_appliers_split_four_partitions_and_converge(
        stack_env: stack.StackEnv,
        scaled: tuple[Workers, dict[str, str], str, valkey.Valkey]) -> None:
    workers, env, db, client = scaled
    ports = [servers.free_port(), servers.free_port()]
    workers.start("publish", env)
    # Two group members: two instances (static membership would make one replace the other).
    first = workers.start("apply", {**env, "CDC_METRICS_PORT": str(ports[0]),
                                    "CDC_INSTANCE": env["CDC_INSTANCE"] + "-a"})
    second = workers.start("apply", {**env, "CDC_METRICS_PORT": str(ports[1]),
                                     "CDC_INSTANCE": env["CDC_INSTANCE"] + "-b"})

    def split() -> bool:
        a, b = _assigned(first.output()), _assigned(second.output())
        return a > 0 and b > 0 and (a + b) % PARTITIONS == 0
    wait_until("both appliers to own partitions", split, timeout=90, workers=workers)
    total = _assigned(first.output()) + _assigned(second.output())
    assert total // PARTITIONS >= 10, "every captured table's topic has 4 partitions"

    live = [r[0] for r in query(stack_env.mysql_port, db,
                                "SELECT id FROM car WHERE status = 'live' ORDER BY id")]
    # Many single-row transactions with distinct keys spread over all partitions.
    for car in live[:120]:
        execute(stack_env.mysql_port, db, "UPDATE car SET price = price + 500 WHERE id = %s",
                args=(car,))
    want = dict(query(stack_env.mysql_port, db, "SELECT id, price FROM car WHERE status='live'"))
    wait_until("every change to reach the cache", lambda: all(
        (page(client, car) or {}).get("price") == price for car, price in want.items()),
        timeout=90, workers=workers)
    assert _applied(ports[0]) > 0, "the first applier did work"
    assert _applied(ports[1]) > 0, "the second applier did work"
    code, out = run_cli(env, "reconcile", "--recheck", "1")
    assert code == 0, out
    assert re.search(r"divergent\D+0\b", out), out
