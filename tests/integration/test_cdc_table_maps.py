"""Memoized table maps against the library's own parse, on a real binlog: transactions on two
tables, an ALTER TABLE between them (the body changes under the same name), a rename, and a
table dropped and created again. Read once with the library's TableMapEvent and once memoized,
every table map must carry the same attributes and every rows event the same columns and rows."""

from __future__ import annotations

from typing import Any

import pytest
from carpages_cdc.publish import table_maps
from carpages_local import servers, stack
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import (
    DeleteRowsEvent,
    TableMapEvent,
    UpdateRowsEvent,
    WriteRowsEvent,
)

from tests.conftest import binlog_end, root_conn


@pytest.fixture
def binlog(stack_env: stack.StackEnv, mysql_db: str) -> tuple[str, int, str]:
    """Single-row transactions around DDL; (database, port, binlog start)."""
    start = binlog_end(stack_env)
    conn = root_conn(stack_env, mysql_db)  # autocommit: one transaction per statement
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE tm_a (id INT PRIMARY KEY, note VARCHAR(20), price INT)")
        cur.execute("CREATE TABLE tm_b (id INT PRIMARY KEY, flag TINYINT UNSIGNED)")
        for i in range(20):
            cur.execute("INSERT INTO tm_a VALUES (%s, %s, %s)", (i, f"n{i}", i * 10))
            cur.execute("INSERT INTO tm_b VALUES (%s, %s)", (i, i % 2))
        cur.execute("ALTER TABLE tm_a ADD COLUMN km BIGINT NULL AFTER note")
        for i in range(20):
            cur.execute("UPDATE tm_a SET price = price + 1, km = %s WHERE id = %s", (i, i))
        cur.execute("ALTER TABLE tm_a CHANGE note label VARCHAR(40)")
        for i in range(10):
            cur.execute("UPDATE tm_a SET label = %s WHERE id = %s", (f"l{i}", i))
            cur.execute("DELETE FROM tm_b WHERE id = %s", (i,))
        cur.execute("DROP TABLE tm_b")
        cur.execute("CREATE TABLE tm_b (id INT PRIMARY KEY, flag VARCHAR(3))")
        for i in range(10):
            cur.execute("INSERT INTO tm_b VALUES (%s, %s)", (i, "yes"))
    conn.close()
    return mysql_db, stack_env.mysql_port, start


def _columns(columns: list[Any]) -> list[dict[str, Any]]:
    return [dict(vars(c)) for c in columns]


def _read(database: str, port: int, start: str) -> list[tuple[str, Any]]:
    """Every table map (its attributes) and rows event (columns, rows) from `start` on."""
    file, pos = start.split(":")
    stream = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": port, "user": servers.CDC_USER,
                             "passwd": servers.CDC_PASSWORD},
        server_id=4243, log_file=file, log_pos=int(pos), resume_stream=True, blocking=False,
        only_events=[TableMapEvent, WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
        only_schemas=[database])
    seen: list[tuple[str, Any]] = []
    try:
        for event in stream:
            if isinstance(event, TableMapEvent):
                attributes = {k: v for k, v in vars(event).items()
                              if k not in ("packet", "table_map", "_ctl_connection", "timestamp",
                                           "columns", "table_obj", "optional_metadata")}
                seen.append(("map", (attributes, _columns(event.columns),
                                     _columns(event.table_obj.columns),
                                     event.table_obj.primary_key,
                                     vars(event.optional_metadata))))
            else:
                seen.append(("rows", (event.table, _columns(event.columns), event.rows)))
    finally:
        stream.close()
    return seen


def test_memoized_table_maps_equal_the_librarys(binlog: tuple[str, int, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TableMapEvent, "__init__", table_maps._library_init)
    expected = _read(*binlog)
    table_maps._parsed.clear()
    monkeypatch.setattr(TableMapEvent, "__init__", table_maps._memoized_init)
    got = _read(*binlog)
    assert got == expected
    maps = [item for kind, item in expected if kind == "map"]
    assert len(maps) == 90  # one per transaction
    # Reused, not re-parsed: one body per table layout (tm_a three, tm_b two).
    assert len(table_maps._parsed) == 5
    names = {tuple(c["name"] for c in columns) for _, columns, *_ in maps}
    assert {("id", "note", "price"), ("id", "note", "km", "price"),
            ("id", "label", "km", "price")} <= names
    last_b = [item[2] for kind, item in got if kind == "rows" and item[0] == "tm_b"][-1]
    assert last_b[0]["values"]["flag"] == "yes"  # the re-created table's new column type
