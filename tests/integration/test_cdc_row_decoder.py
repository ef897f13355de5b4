"""The compiled row decoder against python-mysql-replication on a real binlog: random inserts,
updates and deletes on every table of the schema and on a table of every column type, decoded
both ways from the same events, must give the same values of the same types."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pymysql
import pytest
from carpages_cdc.publish import cdc_store, row_decoder
from carpages_cdc.settings import CDC_SCHEMA
from carpages_local import servers, stack
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from tests.conftest import binlog_end, root_conn

ROWS_PER_TABLE = 40

TYPES_TABLE = """
CREATE TABLE every_type (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    t_tiny TINYINT NULL, t_utiny TINYINT UNSIGNED NULL, t_bool TINYINT(1) NULL,
    t_small SMALLINT NULL, t_usmall SMALLINT UNSIGNED NULL,
    t_medium MEDIUMINT NULL, t_umedium MEDIUMINT UNSIGNED NULL,
    t_int INT NULL, t_uint INT UNSIGNED NULL, t_big BIGINT NULL, t_ubig BIGINT UNSIGNED NULL,
    t_float FLOAT NULL, t_double DOUBLE NULL,
    t_dec21 DECIMAL(2, 1) NULL, t_dec100 DECIMAL(10, 0) NULL, t_dec55 DECIMAL(5, 5) NULL,
    t_dec6530 DECIMAL(65, 30) NULL, t_dec189 DECIMAL(18, 9) NULL,
    t_udec DECIMAL(7, 2) UNSIGNED NULL,
    t_year YEAR NULL, t_date DATE NULL,
    t_time TIME NULL, t_time3 TIME(3) NULL, t_time6 TIME(6) NULL,
    t_dt DATETIME NULL, t_dt1 DATETIME(1) NULL, t_dt4 DATETIME(4) NULL, t_dt6 DATETIME(6) NULL,
    t_ts TIMESTAMP NULL DEFAULT NULL, t_ts2 TIMESTAMP(2) NULL DEFAULT NULL,
    t_ts6 TIMESTAMP(6) NULL DEFAULT NULL,
    t_char CHAR(10) NULL, t_char255 CHAR(255) NULL, t_vc VARCHAR(20) NULL,
    t_vc300 VARCHAR(300) NULL, t_latin1 VARCHAR(30) CHARACTER SET latin1 NULL,
    t_ascii CHAR(4) CHARACTER SET ascii NULL,
    t_tinytext TINYTEXT NULL, t_text TEXT NULL, t_mediumtext MEDIUMTEXT NULL,
    t_longtext LONGTEXT NULL, t_json JSON NULL,
    t_binary BINARY(4) NULL, t_varbinary VARBINARY(40) NULL, t_blob BLOB NULL,
    t_tinyblob TINYBLOB NULL, t_longblob LONGBLOB NULL,
    t_enum ENUM('a', 'b', 'ünï') NULL, t_set SET('x', 'y', 'z') NULL,
    t_set64 SET({set64}) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
""".format(set64=", ".join(f"'m{i}'" for i in range(64)))

BIT_TABLE = "CREATE TABLE with_bit (id INT PRIMARY KEY, flags BIT(10) NULL, note VARCHAR(8))"

_TEXTS = ["", "a", " padded ", "नमस्ते", "emoji 🚗", "quote ' \" \\ ", "x" * 300, "\t\n"]


def _text(rng: random.Random, limit: int) -> str:
    return rng.choice(_TEXTS)[:limit] if rng.random() < 0.7 else "".join(
        rng.choice("abcdeé漢🚗 ") for _ in range(rng.randint(0, limit)))


def _maybe(rng: random.Random, value: Any, nulls: float = 0.25) -> Any:
    return None if rng.random() < nulls else value


def _decimal(rng: random.Random, integral: int, decimals: int, signed: bool = True) -> str:
    whole = str(rng.randint(0, 10 ** integral - 1)) if integral else "0"
    frac = str(rng.randint(0, 10 ** decimals - 1)).zfill(decimals) if decimals else ""
    sign = "-" if signed and rng.random() < 0.4 else ""
    return f"{sign}{whole}.{frac}" if decimals else f"{sign}{whole}"


def _time(rng: random.Random) -> str:
    sign = "-" if rng.random() < 0.3 else ""
    return (f"{sign}{rng.randint(0, 838)}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
            f".{rng.randint(0, 999999):06d}")


def _datetime(rng: random.Random) -> str:
    special = ["0000-00-00 00:00:00", "2024-00-10 00:00:00", "1000-01-01 00:00:00",
               "9999-12-31 23:59:59.999999", "2024-02-29 12:00:00.5"]
    if rng.random() < 0.2:
        return rng.choice(special)
    return (f"{rng.randint(1000, 9999)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
            f".{rng.randint(0, 999999):06d}")


def _timestamp(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(["0000-00-00 00:00:00", "1970-01-01 00:00:01",
                           "2038-01-19 03:14:07.999999"])
    moment = dt.datetime(1971, 1, 1) + dt.timedelta(seconds=rng.randint(0, 2_100_000_000),
                                                    microseconds=rng.randint(0, 999_999))
    return moment.isoformat(sep=" ")


def _every_type(rng: random.Random) -> dict[str, Any]:
    big_u, big = 2**64 - 1, 2**63
    row: dict[str, Any] = {
        "t_tiny": rng.choice([-128, 127, 0, -1, rng.randint(-128, 127)]),
        "t_utiny": rng.choice([0, 255, rng.randint(0, 255)]), "t_bool": rng.choice([0, 1]),
        "t_small": rng.choice([-32768, 32767, rng.randint(-32768, 32767)]),
        "t_usmall": rng.choice([0, 65535, rng.randint(0, 65535)]),
        "t_medium": rng.choice([-8388608, 8388607, -1, rng.randint(-8388608, 8388607)]),
        "t_umedium": rng.choice([0, 16777215, rng.randint(0, 16777215)]),
        "t_int": rng.choice([-(2**31), 2**31 - 1, rng.randint(-(2**31), 2**31 - 1)]),
        "t_uint": rng.choice([0, 2**32 - 1, rng.randint(0, 2**32 - 1)]),
        "t_big": rng.choice([-big, big - 1, rng.randint(-big, big - 1)]),
        "t_ubig": rng.choice([0, big_u, rng.randint(0, big_u)]),
        "t_float": rng.choice([0.0, -1.5, 3.4e38, rng.uniform(-1e6, 1e6)]),
        "t_double": rng.choice([0.0, -2.5e-300, 1.7976931348623157e308, rng.uniform(-1e9, 1e9)]),
        "t_dec21": _decimal(rng, 1, 1), "t_dec100": _decimal(rng, 10, 0),
        "t_dec55": _decimal(rng, 0, 5), "t_dec6530": _decimal(rng, 35, 30),
        "t_dec189": _decimal(rng, 9, 9), "t_udec": _decimal(rng, 5, 2, signed=False),
        "t_year": rng.choice([1901, 2155, 0, rng.randint(1901, 2155)]),
        "t_date": rng.choice(["0000-00-00", "2024-00-05", "1000-01-01", "9999-12-31",
                              f"{rng.randint(1, 9999):04d}-{rng.randint(1, 12):02d}-"
                              f"{rng.randint(1, 28):02d}"]),
        "t_time": _time(rng), "t_time3": _time(rng), "t_time6": _time(rng),
        "t_dt": _datetime(rng), "t_dt1": _datetime(rng), "t_dt4": _datetime(rng),
        "t_dt6": _datetime(rng), "t_ts": _timestamp(rng), "t_ts2": _timestamp(rng),
        "t_ts6": _timestamp(rng),
        "t_char": _text(rng, 10), "t_char255": _text(rng, 255), "t_vc": _text(rng, 20),
        "t_vc300": _text(rng, 300), "t_latin1": rng.choice(["café", "", "plain", "ÿ"]),
        "t_ascii": rng.choice(["abcd", "", "z"]),
        "t_tinytext": _text(rng, 60), "t_text": _text(rng, 300),
        "t_mediumtext": _text(rng, 300) * rng.randint(1, 100),
        "t_longtext": _text(rng, 300) * rng.randint(1, 3),
        "t_json": rng.choice(['{"a": [1, 2.5, null, true], "ü": "x"}', "[]", '"s"', "12",
                              '{"deep": {"deeper": [{"k": "v"}]}}']),
        "t_binary": bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 4))),
        "t_varbinary": bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))),
        "t_blob": bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3000))),
        "t_tinyblob": bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 255))),
        "t_longblob": b"\x00\xff" * rng.randint(0, 40000),
        "t_enum": rng.choice(["a", "b", "ünï", ""]),
        "t_set": rng.choice(["", "x", "x,z", "x,y,z"]),
        "t_set64": ",".join(f"m{i}" for i in range(64) if rng.random() < 0.3),
    }
    return {k: _maybe(rng, v, 0.15) for k, v in row.items()}


def _schema_row(rng: random.Random, table: str, columns: list[tuple[str, str, str]],
                parents: dict[str, list[int]]) -> dict[str, Any]:
    """Values for the marketplace tables: valid foreign keys, edge values elsewhere."""
    row: dict[str, Any] = {}
    for name, data_type, column_type in columns:
        if name == "id":
            continue
        if name.endswith("_id") and name[:-3] in parents:
            row[name] = _maybe(rng, rng.choice(parents[name[:-3]]), 0.2) \
                if name == "city_id" and table == "buyer" else rng.choice(parents[name[:-3]])
        elif data_type == "enum":
            members = [m.strip("'") for m in column_type[5:-1].split(",")]
            row[name] = rng.choice(members)
        elif data_type in ("int", "smallint", "tinyint", "bigint"):
            top = {"int": 2**32 - 1, "smallint": 65535, "tinyint": 255, "bigint": 2**64 - 1}
            row[name] = rng.choice([0, 1, top[data_type], rng.randint(0, top[data_type])])
        elif data_type == "decimal":
            precision, scale = (int(p) for p in column_type[8:-1].split(","))
            row[name] = _decimal(rng, precision - scale, scale, signed=True)
        elif data_type == "datetime":
            row[name] = _maybe(rng, _datetime(rng)[:19], 0.3) if name == "paid_until" \
                else _datetime(rng)[:19]
        elif data_type == "longtext":  # MariaDB's JSON
            row[name] = rng.choice(['{"engine": "ok", "tyres": [7, 6.5]}', "{}", '["ü"]'])
        else:
            width = int(column_type.split("(")[1].rstrip(")")) if "(" in column_type else 60
            row[name] = _text(rng, width)
    return row


def _insert(cur: Any, table: str, row: dict[str, Any]) -> int:
    names = ", ".join(f"`{n}`" for n in row)
    cur.execute(f"INSERT INTO `{table}` ({names}) VALUES ({', '.join(['%s'] * len(row))})",
                tuple(row.values()))
    return int(cur.lastrowid)


def _update(cur: Any, table: str, row_id: int, row: dict[str, Any]) -> None:
    sets = ", ".join(f"`{n}` = %s" for n in row)
    cur.execute(f"UPDATE `{table}` SET {sets} WHERE id = %s", (*row.values(), row_id))


@pytest.fixture
def changed(stack_env: stack.StackEnv, mysql_db: str) -> tuple[str, int, str]:
    """Random changes to every table of `mysql_db`; yields (database, port, binlog start)."""
    start = binlog_end(stack_env)
    conn = root_conn(stack_env, mysql_db)
    rng = random.Random(20261207)
    with conn.cursor() as cur:
        # Zero and zero-month dates are part of what the decoders must agree on.
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(TYPES_TABLE)
        cur.execute(BIT_TABLE)
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_NAME NOT IN ('every_type', 'with_bit', 'schema_migrations') "
                    "ORDER BY CREATE_TIME, TABLE_NAME", (mysql_db,))
        tables = [str(r[0]) for r in cur.fetchall()]
        order = ["make", "model", "variant", "color", "city", "locality", "seller", "car",
                 "feature", "car_feature", "car_image", "inspection_report", "buyer",
                 "interaction", "test_drive", "offer", "slug"]
        assert sorted(tables) == sorted(order), tables
        parents: dict[str, list[int]] = {}
        for table in order:
            cur.execute("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema."
                        "COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                        "ORDER BY ORDINAL_POSITION", (mysql_db, table))
            columns = [(str(a), str(b), str(c)) for a, b, c in cur.fetchall()]
            ids = []
            for _ in range(ROWS_PER_TABLE):
                with contextlib.suppress(pymysql.err.IntegrityError):  # a unique key drawn twice
                    ids.append(_insert(cur, table, _schema_row(rng, table, columns, parents)))
            parents[table] = ids
            for row_id in rng.sample(ids, len(ids) // 2):
                with contextlib.suppress(pymysql.err.IntegrityError):
                    _update(cur, table, row_id, _schema_row(rng, table, columns, parents))
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in order:
            # A multi-row update: one rows event carrying many before/after images.
            cur.execute(f"UPDATE `{table}` SET id = id + 1000000 ORDER BY id DESC")
            cur.execute(f"DELETE FROM `{table}` WHERE id % 3 = 0")
        for ddl in cdc_store.DDL[1:]:  # the publisher's own tables (its heartbeat is published)
            cur.execute(ddl.replace(f"{CDC_SCHEMA}.", ""))
        for i in range(30):
            name = _text(rng, 100)
            cur.execute("INSERT IGNORE INTO checkpoint VALUES (%s, %s, %s, %s, %s, %s)",
                        (f"{i}{name}", f"binlog.{i:06d}", rng.randint(0, 2**64 - 1),
                         _maybe(rng, "0-1-99,1-2-3", 0.5), _text(rng, 255), _datetime(rng)))
            cur.execute("INSERT IGNORE INTO lease (name, owner, expires_at) VALUES (%s, %s, %s)",
                        (f"{i}{name}", _text(rng, 255), _datetime(rng)))
            cur.execute("INSERT IGNORE INTO heartbeat VALUES (%s, %s)", (f"{i}{name}",
                                                                         _datetime(rng)))
        for table in ("checkpoint", "lease", "heartbeat"):
            column = {"checkpoint": "saved_at", "lease": "expires_at", "heartbeat": "ts"}[table]
            cur.execute(f"UPDATE {table} SET {column} = NOW(6)")
            cur.execute(f"DELETE FROM {table} WHERE name LIKE '1%'")
        type_ids = [_insert(cur, "every_type", _every_type(rng)) for _ in range(200)]
        for row_id in rng.sample(type_ids, 120):
            _update(cur, "every_type", row_id, _every_type(rng))
        cur.execute("UPDATE every_type SET t_tiny = -t_tiny WHERE t_tiny > -128")
        cur.execute("DELETE FROM every_type WHERE id % 4 = 0")
        cur.execute("INSERT INTO with_bit VALUES (1, b'1010101010', 'x'), (2, NULL, NULL)")
        cur.execute("UPDATE with_bit SET note = 'y'")
    conn.commit()
    conn.close()
    return mysql_db, stack_env.mysql_port, start


def _images(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the library's `none_sources` (which the fast path does not produce)."""
    return [{k: v for k, v in row.items() if "none_sources" not in k} for row in rows]


def _typed(value: Any) -> Any:
    """A value with its exact type, recursively (1 == 1.0 == True must not pass)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted(map(_typed, value)))
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return (type(value).__name__, repr(value))


def test_compiled_rows_equal_the_librarys(changed: tuple[str, int, str]) -> None:
    database, port, start = changed
    file, pos = start.split(":")
    stream = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": port, "user": servers.CDC_USER,
                             "passwd": servers.CDC_PASSWORD},
        server_id=4242, log_file=file, log_pos=int(pos), resume_stream=True, blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent], only_schemas=[database])
    compiled: dict[str, int] = {}
    library_only: set[str] = set()
    kinds: set[tuple[str, str]] = set()
    try:
        for event in stream:
            fast = row_decoder._fast(event)
            expected = _images(event.rows)
            # After the library has decoded the rows, the fast path leaves them to it.
            assert _images(row_decoder.rows(event)) == expected
            if fast is None:
                library_only.add(event.table)
                continue
            assert [_typed(r) for r in fast] == [_typed(r) for r in expected], event.table
            compiled[event.table] = compiled.get(event.table, 0) + len(fast)
            kinds.add((event.table, type(event).__name__))
    finally:
        stream.close()
    assert library_only == {"with_bit"}  # BIT is left to the library
    assert compiled["every_type"] >= 300
    every = {"make", "model", "variant", "color", "city", "locality", "seller", "car", "feature",
             "car_feature", "car_image", "inspection_report", "buyer", "interaction",
             "test_drive", "offer", "slug", "every_type", "checkpoint", "lease", "heartbeat"}
    assert set(compiled) == every
    for table in every:
        assert {(table, k) for k in ("WriteRowsEvent", "UpdateRowsEvent",
                                     "DeleteRowsEvent")} <= kinds, table
