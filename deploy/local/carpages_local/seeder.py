"""Load the demo catalogue into an empty, migrated database (`make seed`, `make up`, test fixtures).

Rows go in foreign-key order with batched multi-row INSERTs (pymysql rewrites an executemany
INSERT ... VALUES into a few large statements) inside ONE transaction: a failure rolls everything
back, so a retry starts from an empty database instead of tripping over half a catalogue.
"""

from __future__ import annotations

from typing import Any

import pymysql
from carpages_shared.progress import ProgressFn

from carpages_local.catalogue import COLUMNS, generate

BATCH_ROWS = 2000


class SeedError(RuntimeError):
    """The database already holds cars; seeding only fills an empty catalogue."""


def is_seeded(conn: pymysql.connections.Connection[Any]) -> bool:
    """Whether the database already holds any car."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM car LIMIT 1")
        return cur.fetchone() is not None


def seed(conn: pymysql.connections.Connection[Any], cars: int = 10000,
         seed: int = 42, progress: ProgressFn | None = None) -> dict[str, int]:
    """Insert the demo catalogue of `cars` live cars; return rows inserted per table.
    `progress` is told (rows inserted, rows in all) after every batch."""
    if is_seeded(conn):
        raise SeedError("car already has rows; seed only an empty, migrated database")
    catalogue = generate(cars=cars, seed=seed)
    counts: dict[str, int] = {}
    tables = catalogue.tables()
    total, done = sum(len(rows) for _, rows in tables), 0
    conn.begin()  # explicit, so the load stays one transaction even on an autocommit connection
    try:
        with conn.cursor() as cur:
            for table, rows in tables:
                columns = COLUMNS[table]
                sql = (f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in columns)}) "
                       f"VALUES ({', '.join(['%s'] * len(columns))})")
                for start in range(0, len(rows), BATCH_ROWS):
                    cur.executemany(sql, rows[start:start + BATCH_ROWS])
                    done += len(rows[start:start + BATCH_ROWS])
                    if progress is not None:
                        progress(done, total)
                counts[table] = len(rows)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return counts
