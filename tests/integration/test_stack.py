"""The local stack: migrations, binlog access for the CDC user, Valkey and broker round trips."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pymysql
import pytest
import valkey
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from carpages_local import servers, stack, valkey_cluster
from carpages_local.migrator import available, migrate
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import WriteRowsEvent

from tests.conftest import root_conn

EXPECTED_TABLES = {
    "make", "model", "variant", "color", "city", "locality", "seller", "car", "feature",
    "car_feature", "car_image", "inspection_report", "buyer", "interaction", "test_drive",
    "offer", "slug", "schema_migrations",
}


def test_migrations_apply_from_empty_then_noop(
        mysql_conn: pymysql.connections.Connection[Any]) -> None:
    # The fixture already migrated; a second run must apply nothing and change nothing.
    with mysql_conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        tables = {row[0] for row in cur.fetchall()}
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        versions = [row[0] for row in cur.fetchall()]
    assert tables >= EXPECTED_TABLES
    assert versions == [v for v, _, _ in available()]
    assert migrate(mysql_conn) == []


def test_binlog_is_row_based_with_full_metadata(stack_env: stack.StackEnv) -> None:
    conn = root_conn(stack_env)
    with conn.cursor() as cur:
        cur.execute("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata")
        assert cur.fetchone() == (1, "ROW", "FULL", "FULL")
    conn.close()


def test_cdc_user_reads_binlog_with_column_names(stack_env: stack.StackEnv, mysql_db: str) -> None:
    cdc = {"host": "127.0.0.1", "port": stack_env.mysql_port, "user": servers.CDC_USER,
           "passwd": servers.CDC_PASSWORD}
    probe = pymysql.connect(host="127.0.0.1", port=stack_env.mysql_port, user=servers.CDC_USER,
                            password=servers.CDC_PASSWORD)
    with probe.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        log_file, log_pos = cur.fetchone()[:2]
    probe.close()
    app = stack.connect(stack_env.mysql_port, database=mysql_db, autocommit=True)
    with app.cursor() as cur:
        cur.execute("INSERT INTO color (name, hex) VALUES ('Smoke Grey', '#777777')")
    app.close()
    reader = BinLogStreamReader(connection_settings=cdc, server_id=9001, log_file=log_file,
                                log_pos=log_pos, resume_stream=True, blocking=False,
                                only_events=[WriteRowsEvent], only_schemas=[mysql_db])
    rows = [row["values"] for event in reader for row in event.rows]
    reader.close()
    assert rows == [{"id": 1, "name": "Smoke Grey", "hex": "#777777"}]


def test_valkey_round_trip(valkey_sync: valkey.Valkey) -> None:
    valkey_sync.set("probe", b"\x00bytes")
    assert valkey_sync.get("probe") == b"\x00bytes"
    assert "valkey_version" in valkey_sync.info("server")


async def test_broker_round_trip(stack_env: stack.StackEnv) -> None:
    bootstrap = f"127.0.0.1:{stack_env.kafka_port}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("stack.probe", b'{"op":"insert"}', key=b"1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer("stack.probe", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_wait_ms=10)
    await consumer.start()
    try:
        batch = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (batch.key, batch.value) == (b"1", b'{"op":"insert"}')


def _children_named(names: set[str]) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if any(n in cmd for n in names):
            found.append(proc)
    return found


@pytest.mark.parametrize(("topology", "valkeys"), [
    ("standalone", {"valkey"}),
    ("cluster", {"valkey-node0", "valkey-node1", "valkey-node2"})])
def test_up_then_down_leaves_nothing_running(tmp_path: Path, topology: str,
                                             valkeys: set[str]) -> None:
    root = tmp_path / "stack"
    # The checkout first, then whatever the caller had (e.g. a worktree's own packages).
    path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    subprocess.run([sys.executable, "-m", "carpages_local", "up", "--root", str(root),
                    "--cars", "300", "--no-services", "--valkey", topology], check=True,
                   env=env, stdin=subprocess.DEVNULL, capture_output=True)
    recorded = stack.Running.load(root / "pids.json").processes
    assert {p.name for p in recorded} == {"mariadb", "tansu", *valkeys}
    assert all(psutil.pid_exists(p.pid) for p in recorded)
    variables = stack.read_env(root / "env")
    assert {"MYSQL_URL", "MYSQL_CDC_URL", "VALKEY_URL", "KAFKA_BOOTSTRAP_SERVERS", "API_URL",
            "API_JWT_SECRET"} <= variables.keys()
    if topology == "cluster":
        # Database 0 (the only one a cluster has), and both switches on.
        assert variables["API_VALKEY_URL"] == variables["CDC_VALKEY_URL"] == variables["VALKEY_URL"]
        assert variables["VALKEY_URL"].endswith("/0")
        assert variables["API_VALKEY_CLUSTER"] == variables["CDC_VALKEY_CLUSTER"] == "true"
        ports = stack.load_env(root).valkey_cluster_ports
        assert sorted(ports) == sorted(p.port for p in recorded if p.name in valkeys)
        assert valkey_cluster.all_ok(ports)
        assert valkey_cluster.owner(ports[0], valkey_cluster.CP_TAG) in ports
    else:
        assert "API_VALKEY_CLUSTER" not in variables
    conn = stack.connect(recorded[0].port)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM car WHERE status = 'live'")
        assert cur.fetchone() == (300,)
    conn.close()
    subprocess.run([sys.executable, "-m", "carpages_local", "down", "--root", str(root)],
                   check=True, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    assert not any(psutil.pid_exists(p.pid) and psutil.Process(p.pid).status() != "zombie"
                   for p in recorded)
    assert not _children_named({str(root)})
