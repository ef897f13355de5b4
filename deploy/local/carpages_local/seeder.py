"""Load the demo catalogue into an empty, migrated database (`make seed`, `make up`, test fixtures).

Rows go in foreign-key order inside ONE transaction: a failure rolls everything back, so a retry
starts from an empty database instead of tripping over half a catalogue.

On a connection opened with `local_infile=True` each table goes in with `LOAD DATA LOCAL INFILE`
from a tab-separated file written here; otherwise with batched multi-row INSERTs (pymysql
rewrites an executemany INSERT ... VALUES into a few large statements). The rows are the same
either way. At 100,000 cars (~7M rows, 4M of them interactions) the INSERTs took 196 s; the
files 161 s, and 138 s with the per-row foreign-key and unique checks off for the load and
each file written while the server loads the one before.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
from carpages_shared.progress import ProgressFn
from pymysql.constants import CLIENT

from carpages_local.catalogue import COLUMNS, generate

BATCH_ROWS = 2000
FILE_ROWS = 200_000
"""Rows per LOAD DATA file: progress stays lively and the temporary file small."""

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})
"""LOAD DATA's default escapes (FIELDS ESCAPED BY '\\'), so any text survives the round trip."""


class SeedError(RuntimeError):
    """The database already holds cars; seeding only fills an empty catalogue."""


def is_seeded(conn: pymysql.connections.Connection[Any]) -> bool:
    """Whether the database already holds any car."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM car LIMIT 1")
        return cur.fetchone() is not None


def can_load_files(conn: pymysql.connections.Connection[Any]) -> bool:
    """Whether `conn` was opened with local_infile=True (LOAD DATA LOCAL is then allowed)."""
    return bool(conn.client_flag & CLIENT.LOCAL_FILES) and bool(getattr(conn, "_local_infile",
                                                                        False))


def seed(conn: pymysql.connections.Connection[Any], cars: int = 10000,
         seed: int = 42, progress: ProgressFn | None = None) -> dict[str, int]:
    """Insert the demo catalogue of `cars` live cars; return rows inserted per table.
    `progress` is told (rows inserted, rows in all) after every batch."""
    if is_seeded(conn):
        raise SeedError("car already has rows; seed only an empty, migrated database")
    catalogue = generate(cars=cars, seed=seed)
    tables = catalogue.tables()
    total = sum(len(rows) for _, rows in tables)
    conn.begin()  # explicit, so the load stays one transaction even on an autocommit connection
    try:
        with conn.cursor() as cur:
            if can_load_files(conn):
                _load_files(cur, tables, total, progress)
            else:
                _insert_all(cur, tables, total, progress)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return {table: len(rows) for table, rows in tables}


Tables = Sequence[tuple[str, Sequence[Sequence[Any]]]]


def _chunks(tables: Tables, size: int) -> Iterator[tuple[str, Sequence[Sequence[Any]]]]:
    for table, rows in tables:
        for start in range(0, len(rows), size):
            yield table, rows[start:start + size]


def _insert_all(cur: Any, tables: Tables, total: int, progress: ProgressFn | None) -> None:
    done = 0
    for table, rows in _chunks(tables, BATCH_ROWS):
        columns = COLUMNS[table]
        cur.executemany(f"INSERT INTO `{table}` ({_names(columns)}) "
                        f"VALUES ({', '.join(['%s'] * len(columns))})", rows)
        done += len(rows)
        if progress is not None:
            progress(done, total)


def _load_files(cur: Any, tables: Tables, total: int, progress: ProgressFn | None) -> None:
    """Each chunk's file is written in a thread while the server loads the one before (the
    two took about as long). The generated rows are consistent by construction (the INSERT
    path, with every check on, loads the same rows: tests/integration/test_seed.py), so the
    per-row foreign-key and unique checks are off for this session's load: a third faster."""
    cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
    done = 0
    try:
        with (tempfile.TemporaryDirectory(prefix="carpages-seed-") as folder,
              ThreadPoolExecutor(max_workers=1) as writer):
            chunks = list(_chunks(tables, FILE_ROWS))
            paths = [Path(folder) / f"{n}.tsv" for n in range(len(chunks))]
            ahead = writer.submit(write_file, paths[0], chunks[0][1]) if chunks else None
            for n, (table, rows) in enumerate(chunks):
                assert ahead is not None
                ahead.result()  # one file ahead at most: /tmp never holds the whole catalogue
                if n + 1 < len(chunks):
                    ahead = writer.submit(write_file, paths[n + 1], chunks[n + 1][1])
                load_file(cur, table, COLUMNS[table], paths[n], len(rows))
                paths[n].unlink()
                done += len(rows)
                if progress is not None:
                    progress(done, total)
    finally:
        cur.execute("SET SESSION foreign_key_checks = DEFAULT, unique_checks = DEFAULT")


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f"`{c}`" for c in columns)


def write_file(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    """`rows` as a file LOAD DATA reads with its defaults (see `field`)."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.writelines("\t".join(map(field, row)) + "\n" for row in rows)


def load_file(cur: Any, table: str, columns: Sequence[str], path: Path, rows: int) -> None:
    """Load a `write_file` file into `table`; it must hold exactly `rows` rows."""
    # Every column listed and CHARACTER SET pinned: the file is UTF-8 whatever the session's
    # character_set_database says.
    cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 "
                f"({_names(columns)})", (str(path),))
    if cur.rowcount != rows:
        raise SeedError(f"{table}: LOAD DATA took {cur.rowcount} of {rows} rows")


def _datetime(value: dt.datetime) -> str:
    # pymysql's form: microseconds only when there are any, no UTC offset. isoformat() says
    # the same for a naive value at a fraction of the f-string's cost (4M rows at 100k cars).
    return (value.replace(tzinfo=None) if value.tzinfo else value).isoformat(" ")


_FORMS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "\\N",
    str: lambda value: value.translate(_ESCAPES),
    bool: lambda value: "1" if value else "0",
    int: str, Decimal: str, float: str,
    dt.datetime: _datetime,
    dt.date: dt.date.isoformat,
}
"""The form of each exact type (a lookup: the catalogue writes ~35M values at 100k cars)."""


def field(value: Any) -> str:
    """One value as LOAD DATA reads it (tab-separated, backslash escapes, \\N for NULL), in the
    same form pymysql would have sent it in an INSERT."""
    form = _FORMS.get(type(value))
    if form is not None:
        return form(value)
    # Subclasses (an IntEnum, a str subclass...): the first form whose type they extend.
    for kind, form in _FORMS.items():
        if isinstance(value, kind):
            return form(value)
    raise TypeError(f"no LOAD DATA form for {type(value).__name__}: {value!r}")
