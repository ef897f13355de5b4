"""Helpers for the CDC tests: worker subprocesses, waiting, reading the cache and topics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pymysql
import valkey
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from carpages_cdc.builder import CacheBuilder
from carpages_local import servers, stack
from carpages_shared import keys

from tests.integration.sql_oracle import SqlOracle


def local_builder(env: stack.StackEnv, database: str, valkey_url: str) -> CacheBuilder:
    """An in-process CacheBuilder on a test database and Valkey (small batches)."""
    client = valkey.Valkey.from_url(valkey_url)

    def connect() -> Any:
        return stack.connect(env.mysql_port, database=database)

    return CacheBuilder(connect, client, batch_size=50)


HEARTBEATS = Path(tempfile.gettempdir()) / "carpages-test-heartbeats"
"""Liveness files of test workers (one per worker tag; a fresh tag never finds an old one)."""


def worker_env(env: stack.StackEnv, database: str, valkey_port: int,
               **extra: str) -> dict[str, str]:
    """Environment of a worker subprocess: its own pipeline name, topic namespace and group."""
    tag = uuid.uuid4().hex[:8]
    app = f"{servers.APP_USER}:{servers.APP_PASSWORD}"
    cdc = f"{servers.CDC_USER}:{servers.CDC_PASSWORD}"
    base = {
        "MYSQL_URL": f"mysql://{app}@127.0.0.1:{env.mysql_port}/{database}",
        "MYSQL_CDC_URL": f"mysql://{cdc}@127.0.0.1:{env.mysql_port}/{database}",
        "VALKEY_URL": f"valkey://127.0.0.1:{valkey_port}/0",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{env.kafka_port}",
        "CDC_NAME": f"t{tag}", "CDC_TOPIC_PREFIX": f"t{tag}.", "CDC_GROUP_ID": f"g{tag}",
        "CDC_INSTANCE": f"i{tag}",
        "CDC_HEARTBEAT_DIR": str(HEARTBEATS),
        # Short timings keep the suite quick: leases, heartbeats, polls, retries.
        "CDC_LEASE_TTL_S": "2", "CDC_HEARTBEAT_INTERVAL_S": "1", "CDC_CHECKPOINT_INTERVAL_S": "0.2",
        "CDC_POLL_TIMEOUT_MS": "100", "CDC_REQUEST_TIMEOUT_MS": "5000", "CDC_RETRY_MAX_S": "1",
        "CDC_SESSION_TIMEOUT_MS": "6000", "CDC_HEARTBEAT_INTERVAL_MS": "1000",
        "CDC_APPLY_BATCH_MAX": "500",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CDC_", "MYSQL", "VALKEY"))}
    return {**clean, **base, **extra}


@dataclass
class Worker:
    """One `python -m carpages_cdc <role>` subprocess, logging to a file."""

    role: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "carpages_cdc", self.role],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it lingers; the exit code (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Workers:
    """Every worker a test started, so teardown stops them all."""

    root: Path
    started: list[Worker] = field(default_factory=list)

    def start(self, role: str, env: dict[str, str]) -> Worker:
        worker = Worker(role, env, self.root / f"{role}-{len(self.started)}.log").start()
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in reversed(self.started):
            worker.stop()


@contextmanager
def running_workers(root: Path) -> Iterator[Workers]:
    workers = Workers(root)
    try:
        yield workers
    finally:
        workers.stop_all()


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> tuple[int, str]:
    """Run one `cdc_worker` command to completion: (exit code, output)."""
    done = subprocess.run([sys.executable, "-m", "carpages_cdc", *args], env=env, timeout=timeout,
                          capture_output=True, stdin=subprocess.DEVNULL, check=False)
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def wait_until(what: str, predicate: Callable[[], Any], timeout: float = 30,
               workers: Workers | None = None) -> Any:
    """Poll `predicate` until truthy; fail with the workers' log tails if it never is."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (KeyError, TypeError, ValueError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "".join(f"\n--- {w.log.name}\n{w.output()[-3000:]}"
                            for w in (workers.started if workers else []))
            raise AssertionError(f"timed out waiting for {what}{tails}")
        time.sleep(0.05)


def execute(port: int, database: str, *statements: str, args: tuple[Any, ...] = ()) -> int:
    """Run statements in one transaction as the application user; last statement's lastrowid."""
    conn = stack.connect(port, database=database)
    try:
        with conn.cursor() as cur:
            last = 0
            for statement in statements:
                cur.execute(statement, args if statement is statements[-1] else ())
                last = cur.lastrowid
        conn.commit()
        return last
    finally:
        conn.close()


def query(port: int, database: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = stack.connect(port, database=database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def page(client: valkey.Valkey, car_id: int) -> dict[str, Any] | None:
    raw = client.get(keys.dedicated_page(car_id))
    return orjson.loads(raw) if raw else None


def build(client: valkey.Valkey) -> int:
    return int(client.hget(keys.meta(), "build"))


async def _topic_values(bootstrap: str, topic: str, until: Callable[[list[Any]], bool],
                        seconds: float) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    got: list[Any] = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until(got):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(records)
    finally:
        await consumer.stop()
    return got


def topic_records(bootstrap: str, topic: str, until: Callable[[list[Any]], bool],
                  timeout: float = 30) -> list[Any]:
    """Records of a topic from the start (no group) until `until(records)` or the timeout."""
    return asyncio.run(_topic_values(bootstrap, topic, until, timeout))


def changes(records: list[Any]) -> list[dict[str, Any]]:
    """The decodable change messages among `records` (a topic may hold the tests' poison)."""
    out = []
    for record in records:
        try:
            value = orjson.loads(record.value)
        except (orjson.JSONDecodeError, TypeError):
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def produce(bootstrap: str, topic: str, value: bytes | None, key: bytes | None = None) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()
    asyncio.run(send())


def root_execute(port: int, *statements: str) -> None:
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="root-local",
                           autocommit=True)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def sql_differences(port: int, database: str, client: Any) -> list[str]:
    """What the cache holds that an independent SQL assembly (sql_oracle) disagrees with: every
    car's page, card, private hash and interested set (gone when not live), every buyer's keys."""
    conn = stack.connect(port, database=database, autocommit=True)
    try:
        oracle = SqlOracle(conn)
        build = int(client.hget(keys.meta(), "build"))
        found: list[str] = []
        for car in oracle.ids("status = 'live'"):
            if page(client, car) != oracle.page(car):
                found.append(f"car {car}: page")
            if orjson.loads(client.hget(keys.cards(build), str(car)) or b"null") != (
                    oracle.card(car)):
                found.append(f"car {car}: card")
            private = {k.decode(): v.decode() for k, v in
                       client.hgetall(keys.car_private(car)).items()}
            if "inspection_report" in private:
                private["inspection_report"] = orjson.loads(private["inspection_report"])
            if private != oracle.private(car):
                found.append(f"car {car}: private")
            if {int(b) for b in client.smembers(keys.car_interested(car))} != (
                    oracle.interested(car)):
                found.append(f"car {car}: interested")
        for car in oracle.ids("status <> 'live'"):
            if client.exists(keys.dedicated_page(car)) or client.hexists(keys.cards(build), car):
                found.append(f"car {car}: not live but cached")
        for (buyer,) in oracle._all("SELECT id FROM buyer ORDER BY id"):
            want = oracle.buyer(buyer)
            paid = client.get(keys.buyer_paid_until(buyer))
            got = {"seen": {int(c) for c in client.smembers(keys.buyer_seen(buyer))},
                   "test_drives": {int(c) for c in client.smembers(keys.buyer_test_drives(buyer))},
                   "offers": {int(c): int(a) for c, a in
                              client.hgetall(keys.buyer_offers(buyer)).items()},
                   "paid_until": int(paid) if paid is not None else None}
            if got != want:
                found.append(f"buyer {buyer}")
        return found
    finally:
        conn.close()


def assert_equals_sql(port: int, database: str, client: Any, workers: Workers | None = None,
                      timeout: float = 30) -> None:
    """Wait until sql_differences finds nothing (the last writes may still be draining)."""
    last: list[str] = []

    def equal() -> bool:
        last[:] = sql_differences(port, database, client)
        return not last

    try:
        wait_until("every car and buyer equal to MySQL", equal, timeout, workers)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still different: {last[:20]}") from exc
