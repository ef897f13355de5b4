"""Loading the demo catalogue into a freshly migrated MariaDB database."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest
from carpages_local.seeder import SeedError, is_seeded, seed


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
