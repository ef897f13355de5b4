"""The publisher on its own: preflight, purged binlogs and the re-snapshot path, a broker outage,
lost MySQL connections, SIGTERM drain and the standby taking over the lease."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from carpages_cdc.position import file_index
from carpages_local import servers, stack

from tests.integration.cdc_support import (
    Worker,
    Workers,
    changes,
    execute,
    root_execute,
    run_cli,
    topic_records,
    wait_until,
    worker_env,
)


def checkpoint(env: stack.StackEnv, name: str) -> tuple[str, int] | None:
    conn = stack.connect(env.mysql_port, user="root", password="root-local", database="mysql")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT file, pos FROM carpages_cdc.checkpoint WHERE name = %s", (name,))
            row = cur.fetchone()
            return (row[0], int(row[1])) if row else None
    finally:
        conn.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def env(stack_env: stack.StackEnv, mysql_db: str, valkey_url: str) -> dict[str, str]:
    port = int(valkey_url.rsplit(":", 1)[1].split("/")[0])
    return worker_env(stack_env, mysql_db, port)


def streaming(worker: Worker, workers: Workers) -> None:
    """Wait until a publisher reads the binlog (changes before that are in its snapshot)."""
    wait_until("the publisher to stream", lambda: "binlog: reading from" in worker.output(),
               workers=workers)


def colors(kafka: str, env: dict[str, str], db: str, names: set[str]) -> set[str]:
    """Color names published to the color topic, once all of `names` are there (or timeout)."""
    def found(records: list[Any]) -> set[str]:
        return {(m.get("after") or {}).get("name") for m in changes(records)}
    records = topic_records(kafka, f"{env['CDC_TOPIC_PREFIX']}{db}.color",
                            lambda got: names <= found(got))
    return found(records)


def test_refuses_a_binlog_without_full_row_metadata(env: dict[str, str]) -> None:
    port = int(env["MYSQL_URL"].rsplit(":", 1)[1].split("/")[0])
    root_execute(port, "SET GLOBAL binlog_row_metadata = 'MINIMAL'")
    try:
        code, out = run_cli(env, "publish")
    finally:
        root_execute(port, "SET GLOBAL binlog_row_metadata = 'FULL'")
    assert code == 2, out
    assert "binlog_row_metadata=MINIMAL" in out
    assert "needs FULL" in out


def test_purged_binlog_fails_clearly_and_bootstrap_force_resnapshots(
        stack_env: stack.StackEnv, mysql_db: str, env: dict[str, str],
        workers: Workers) -> None:
    root_execute(stack_env.mysql_port,
                 "CREATE DATABASE IF NOT EXISTS carpages_cdc",
                 "CREATE TABLE IF NOT EXISTS carpages_cdc.checkpoint (name VARCHAR(100) NOT NULL "
                 "PRIMARY KEY, file VARCHAR(255) NOT NULL, pos BIGINT UNSIGNED NOT NULL, gtid TEXT "
                 "NULL, saved_by VARCHAR(255) NOT NULL, saved_at DATETIME(6) NOT NULL)",
                 f"INSERT INTO carpages_cdc.checkpoint VALUES ('{env['CDC_NAME']}', "
                 "'binlog.000000', 4, NULL, 'test', NOW())")
    code, out = run_cli(env, "publish")
    assert code == 3, out
    assert "binlog.000000" in out
    assert "purged" in out
    assert "bootstrap --force" in out
    code, out = run_cli(env, "bootstrap", "--force")
    assert code == 0, out
    saved = checkpoint(stack_env, env["CDC_NAME"])
    assert saved is not None
    assert saved[0] != "binlog.000000"
    streaming(workers.start("publish", env), workers)
    execute(stack_env.mysql_port, mysql_db, "INSERT INTO color (name, hex) VALUES ('Re', '#1')")
    kafka = env["KAFKA_BOOTSTRAP_SERVERS"]
    assert "Re" in colors(kafka, env, mysql_db, {"Re"})


def test_broker_outage_holds_the_checkpoint_and_loses_nothing(
        stack_env: stack.StackEnv, mysql_db: str, env: dict[str, str], workers: Workers,
        tmp_path: Path) -> None:
    broker = servers.start_tansu(tmp_path / "tansu")
    kafka = f"127.0.0.1:{broker.port}"
    env = {**env, "KAFKA_BOOTSTRAP_SERVERS": kafka}
    name, port = env["CDC_NAME"], stack_env.mysql_port
    try:
        streaming(workers.start("publish", env), workers)
        execute(port, mysql_db, "INSERT INTO color (name, hex) VALUES ('Before', '#1')")
        assert "Before" in colors(kafka, env, mysql_db, {"Before"})
        wait_until("a checkpoint", lambda: checkpoint(stack_env, name), workers=workers)
        broker.stop()
        log = workers.started[0].output
        wait_until("the publisher to notice", lambda: "publisher failing" in log(),
                   timeout=60, workers=workers)
        held = checkpoint(stack_env, name)
        for n in range(5):
            execute(port, mysql_db, f"INSERT INTO color (name, hex) VALUES ('Down{n}', '#2')")
        time.sleep(3)  # several sessions fail meanwhile (back-off capped at 1 s here)
        assert checkpoint(stack_env, name) == held  # heartbeats and rows wait, unacknowledged
        broker = servers.start_tansu(tmp_path / "tansu2", port=broker.port)
        down = {f"Down{n}" for n in range(5)}
        assert down <= colors(kafka, env, mysql_db, down)  # replayed from the checkpoint
        wait_until("the checkpoint to move on", lambda: checkpoint(stack_env, name) != held,
                   workers=workers)
        # The outage was one episode: one warning when it started, one when it ended.
        recovered = re.findall(r"publisher recovered after [\d.]+s and (\d+) failures", log())
        assert len(recovered) == 1
        assert int(recovered[0]) >= 2
        assert log().count("publisher failing") == 1
    finally:
        workers.stop_all()
        broker.stop()


def master_position(port: int) -> tuple[str, int]:
    conn = stack.connect(port, user="root", password="root-local", database="mysql")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
            return row[0], int(row[1])
    finally:
        conn.close()


def passed(saved: tuple[str, int] | None, target: tuple[str, int]) -> bool:
    return saved is not None and (file_index(saved[0]), saved[1]) >= (file_index(target[0]),
                                                                      target[1])


def test_lost_mysql_connections_are_resumed_and_sigterm_drains(
        stack_env: stack.StackEnv, mysql_db: str, env: dict[str, str], workers: Workers) -> None:
    port, kafka, name = stack_env.mysql_port, env["KAFKA_BOOTSTRAP_SERVERS"], env["CDC_NAME"]
    active = workers.start("publish", env)
    streaming(active, workers)
    execute(port, mysql_db, "INSERT INTO color (name, hex) VALUES ('One', '#1')")
    assert "One" in colors(kafka, env, mysql_db, {"One"})
    conn = stack.connect(port, user="root", password="root-local", database="mysql",
                         autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.PROCESSLIST WHERE USER = %s",
                        (servers.CDC_USER,))
            for (thread,) in cur.fetchall():
                cur.execute(f"KILL {int(thread)}")  # the binlog stream and the store's
    finally:
        conn.close()
    execute(port, mysql_db, "INSERT INTO color (name, hex) VALUES ('Two', '#2')")
    after_two = master_position(port)
    assert "Two" in colors(kafka, env, mysql_db, {"Two"})
    wait_until("the checkpoint past the change", lambda: passed(checkpoint(stack_env, name),
                                                                after_two), workers=workers)
    standby = workers.start("publish", env)
    wait_until("a standby", lambda: "standby" in standby.output(), workers=workers)
    active.signal(signal.SIGTERM)
    assert active.wait() == 0
    assert "publisher drained" in active.output()
    # The lease was released on the way out: the standby takes over at once.
    wait_until("the standby to take over", lambda: "acquired" in standby.output(),
               workers=workers)
    execute(port, mysql_db, "INSERT INTO color (name, hex) VALUES ('Three', '#3')")
    assert "Three" in colors(kafka, env, mysql_db, {"Three"})
