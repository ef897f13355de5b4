"""Loading the demo catalogue into a freshly migrated MariaDB database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
from carpages_local import stack
from carpages_local.seeder import (
    SeedError,
    can_load_files,
    is_seeded,
    load_file,
    seed,
    write_file,
)

from tests.conftest import drop_database, new_database


def test_seed_loads_every_table_once(mysql_conn: pymysql.connections.Connection[Any]) -> None:
    assert not is_seeded(mysql_conn)
    counts = seed(mysql_conn, cars=2000)
    with mysql_conn.cursor() as cur:
        for table, expected in counts.items():
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            assert cur.fetchone() == (expected,), table
        cur.execute("SELECT COUNT(*) FROM car WHERE status = 'live'")
        assert cur.fetchone() == (2000,)
        cur.execute("SELECT COUNT(*) FROM inspection_report WHERE JSON_VALID(report) = 0")
        assert cur.fetchone() == (0,)
    assert counts["buyer"] >= 4000
    assert is_seeded(mysql_conn)
    with pytest.raises(SeedError):
        seed(mysql_conn, cars=2000)
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM car")
        assert cur.fetchone() == (counts["car"],)


def _table_rows(conn: pymysql.connections.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{table}` ORDER BY id")
        return list(cur.fetchall())


def test_the_file_load_and_the_insert_load_give_the_same_tables(
        stack_env: stack.StackEnv, mysql_db: str) -> None:
    """The same catalogue loaded both ways: every table equal, row for row."""
    by_file = stack.connect(stack_env.mysql_port, database=mysql_db, local_infile=True)
    other = new_database(stack_env)
    by_insert = stack.connect(stack_env.mysql_port, database=other)
    try:
        assert can_load_files(by_file)
        assert not can_load_files(by_insert)
        counts = seed(by_file, cars=500)
        assert seed(by_insert, cars=500) == counts
        for table in counts:
            assert _table_rows(by_file, table) == _table_rows(by_insert, table), table
    finally:
        by_file.close()
        by_insert.close()
        drop_database(stack_env, other)


def test_a_file_load_keeps_any_text_and_null(stack_env: stack.StackEnv, mysql_db: str,
                                             tmp_path: Path) -> None:
    conn = stack.connect(stack_env.mysql_port, database=mysql_db, local_infile=True)
    rows = [(1, "tab\there, new\nline, cr\r, back\\slash, \\N, \\t literal", None,
             dt.datetime(2026, 1, 2, 3, 4, 5, 6), Decimal("12.50")),
            (2, "", 0, dt.datetime(2026, 1, 2), Decimal("-0.01")),
            (3, "ünïcödé ✓ \x00 nul", -7, None, None)]
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE odd (id INT PRIMARY KEY, txt TEXT, n INT NULL, "
                        "at DATETIME(6) NULL, amount DECIMAL(6,2) NULL) CHARACTER SET utf8mb4")
            write_file(tmp_path / "odd.tsv", rows)
            load_file(cur, "odd", ("id", "txt", "n", "at", "amount"), tmp_path / "odd.tsv",
                      len(rows))
        conn.commit()
        assert _table_rows(conn, "odd") == rows
    finally:
        conn.close()
