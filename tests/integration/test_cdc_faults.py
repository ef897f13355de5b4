"""The applier rides out its dependencies failing, and never exits on them.

A publisher and an applier (subprocesses) run against a private Valkey and a private Tansu on
memory storage (so a broker restart really loses its messages), and the session MariaDB. Each
test breaks one dependency while MySQL keeps changing and checks the applier process is still
the same process afterwards, and the change made during the outage reaches the cache.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import valkey
from carpages_local import servers, stack
from carpages_shared import keys

from tests.conftest import drop_database, seeded_database
from tests.integration.cdc_support import (
    Worker,
    Workers,
    execute,
    page,
    query,
    wait_until,
    worker_env,
)


def start_memory_tansu(root: Path, port: int | None = None) -> servers.Server:
    """Tansu on memory storage: a restart loses every message and committed offset."""
    port = port or servers.free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = root / "tansu.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = servers._spawn([servers.tansu_binary(), "broker", "--listener-url", url,
                           "--advertised-listener-url", url, "--storage-engine",
                           "memory://tansu/"], log)
    servers._wait(lambda: servers._port_open(port), "tansu", proc, log)
    return servers.Server("tansu", proc.pid, port)


@dataclass
class Line:
    """The module's pipeline and the servers it may break."""

    root: Path
    port: int
    db: str
    env: dict[str, str]
    cache: servers.Server
    broker: servers.Server
    workers: Workers
    publisher: Worker
    applier: Worker

    def client(self) -> valkey.Valkey:
        return valkey.Valkey(port=self.cache.port, socket_timeout=2)

    def reprice(self) -> tuple[int, int]:
        """Change one live car's price in MySQL; (car, new price)."""
        car, price = query(self.port, self.db, "SELECT id, price FROM car WHERE status = 'live' "
                           "ORDER BY RAND() LIMIT 1")[0]
        execute(self.port, self.db, "UPDATE car SET price = %s WHERE id = %s",
                args=(int(price) + 7, car))
        return int(car), int(price) + 7

    def on_page(self, car: int, price: int, timeout: float) -> float:
        """Seconds until the car's cached page shows `price`."""
        started = time.monotonic()
        client = self.client()
        try:
            def shown() -> bool:
                try:
                    return (page(client, car) or {}).get("price") == price
                except valkey.ValkeyError:
                    return False
            wait_until(f"car {car} at {price}", shown, timeout, self.workers)
        finally:
            client.close()
        return time.monotonic() - started

    def alive(self) -> None:
        for worker in (self.publisher, self.applier):
            assert worker.proc is not None
            assert worker.proc.poll() is None, f"{worker.role} exited:\n{worker.output()[-3000:]}"


@pytest.fixture(scope="module")
def line(stack_env: stack.StackEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    root = Path(tmp_path_factory.mktemp("faults"))
    cache = servers.start_valkey(root / "valkey")
    broker = start_memory_tansu(root / "tansu")
    db = seeded_database(stack_env, 300)
    workers = Workers(root)
    made: Line | None = None
    try:
        env = worker_env(stack_env, db, cache.port,
                         KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{broker.port}",
                         CDC_APPLY_BACKOFF_MAX_S="1", CDC_VALKEY_TIMEOUT_S="3")
        publisher = workers.start("publish", env)
        applier = workers.start("apply", env)
        made = Line(root, stack_env.mysql_port, db, env, cache, broker, workers, publisher,
                    applier)
        for _ in range(2):  # the second change can only arrive through the stream
            car, price = made.reprice()
            made.on_page(car, price, 60)
        yield made
    finally:
        workers.stop_all()
        if made is not None:
            made.cache.stop()
            made.broker.stop()
        else:
            cache.stop()
            broker.stop()
        drop_database(stack_env, db)


def test_valkey_frozen_for_5_seconds(line: Line) -> None:
    os.kill(line.cache.pid, signal.SIGSTOP)
    try:
        time.sleep(0.5)
        car, price = line.reprice()  # made during the freeze
        time.sleep(4.5)
    finally:
        os.kill(line.cache.pid, signal.SIGCONT)
    assert line.on_page(car, price, 5) <= 5
    line.alive()


def test_valkey_restarted_empty_is_rebuilt(line: Line) -> None:
    servers.stop_pid(line.cache.pid)
    car, price = line.reprice()  # made while Valkey is down
    time.sleep(1)
    line.cache = servers.start_valkey(line.root / "valkey", port=line.cache.port)
    client = line.client()
    try:
        live = query(line.port, line.db, "SELECT COUNT(*) FROM car WHERE status = 'live'")[0][0]
        wait_until("the cache rebuilt", lambda: client.hget(keys.meta(), "build") and client.zcard(
            keys.live_cars(int(client.hget(keys.meta(), "build")))) == live, 10, line.workers)
    finally:
        client.close()
    assert line.on_page(car, price, 5) <= 5
    line.alive()


def test_broker_restart_that_lost_messages_is_noticed_and_rebuilt(line: Line) -> None:
    client = line.client()
    try:
        rebuilds_before = int(client.get(keys.build_counter()) or 0)
        os.kill(line.applier.proc.pid, signal.SIGSTOP)  # type: ignore[union-attr]
        try:
            car, price = line.reprice()
            # Published and acknowledged (the checkpoint moves past it) but never consumed...
            time.sleep(3)
            # ...and lost with the broker's memory.
            servers.stop_pid(line.broker.pid)
            line.broker = start_memory_tansu(line.root / "tansu", port=line.broker.port)
        finally:
            os.kill(line.applier.proc.pid, signal.SIGCONT)  # type: ignore[union-attr]
        line.on_page(car, price, 60)
        assert int(client.get(keys.build_counter()) or 0) > rebuilds_before
    finally:
        client.close()
    assert "broker lost data" in line.applier.output()
    later_car, later_price = line.reprice()
    line.on_page(later_car, later_price, 30)
    line.alive()


def test_valkey_back_from_an_older_snapshot_is_rebuilt(line: Line) -> None:
    """A restart that loads a snapshot taken before some applied (and committed) changes: the
    empty-cache check cannot see it, the new run id can."""
    client = line.client()
    try:
        client.save()  # the snapshot this Valkey will come back with
    finally:
        client.close()
    car, price = line.reprice()
    line.on_page(car, price, 30)  # applied, and its offset committed, after the snapshot
    time.sleep(0.5)
    os.kill(line.cache.pid, signal.SIGKILL)
    servers.stop_pid(line.cache.pid)  # reaps it
    line.cache = servers.start_valkey(line.root / "valkey", port=line.cache.port)
    try:
        line.on_page(car, price, 15)  # rebuilt: the snapshot's older page is gone
    finally:
        (line.root / "valkey" / "dump.rdb").unlink(missing_ok=True)
    assert "comes from another run" in line.applier.output()
    line.alive()
