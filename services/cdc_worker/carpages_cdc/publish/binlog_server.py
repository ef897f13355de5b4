"""What the publisher asks the MySQL/MariaDB server about its binlog (blocking pymysql calls).

Both flavours are handled: MariaDB 10.5+ and MySQL 8.0.14+ (both have binlog_row_metadata).
"""

from __future__ import annotations

import re
from typing import Any

import pymysql
from carpages_shared.dsn import mysql_params

from carpages_cdc.position import Checkpoint

Connection = Any  # pymysql.connections.Connection; generic only in the stubs

CONNECT_TIMEOUT_S = 5
_JSON_CHECK = re.compile(r"^json_valid\(`([^`]+)`\)$", re.IGNORECASE)


class BinlogMisconfigured(RuntimeError):
    """The server's binlog cannot feed CDC (not enabled, not ROW, no full row metadata)."""


class BinlogPurged(RuntimeError):
    """The checkpoint's binlog file is gone: events were lost to us; a re-snapshot is needed."""


def connect(url: str, **overrides: Any) -> Connection:
    """A pymysql connection (autocommit on) from a `mysql://` URL."""
    params: dict[str, Any] = {**mysql_params(url), "autocommit": True,
                              "connect_timeout": CONNECT_TIMEOUT_S, **overrides}
    return pymysql.connect(**params)


def _one(conn: Connection, sql: str, args: Any = None) -> tuple[Any, ...] | None:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
        return tuple(row) if row is not None else None


def _all(conn: Connection, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return [tuple(r) for r in cur.fetchall()]


def is_mariadb(conn: Connection) -> bool:
    """MariaDB (GTIDs `domain-server-seq`, JSON as checked text) rather than MySQL."""
    row = _one(conn, "SELECT VERSION()")
    return row is not None and "mariadb" in str(row[0]).lower()


def preflight(conn: Connection) -> None:
    """Refuse to run unless the binlog is on, row-based, with full row images and metadata."""
    row = _one(conn, "SELECT @@log_bin, @@binlog_format, @@binlog_row_image")
    assert row is not None
    log_bin, fmt, image = row
    metadata_row = _one(conn, "SHOW VARIABLES LIKE 'binlog_row_metadata'")
    metadata = metadata_row[1] if metadata_row else "(unsupported: server too old)"
    problems = []
    if not int(log_bin or 0):
        problems.append("log_bin is OFF (start the server with --log-bin)")
    if str(fmt).upper() != "ROW":
        problems.append(f"binlog_format={fmt} (needs ROW: statements cannot be decoded to rows)")
    if str(metadata).upper() != "FULL":
        problems.append(f"binlog_row_metadata={metadata} (needs FULL: column names come from "
                        "the binlog itself, which is what makes ALTER TABLE mid-stream safe)")
    if str(image).upper() != "FULL":
        problems.append(f"binlog_row_image={image} (needs FULL: before/after carry every column)")
    if problems:
        raise BinlogMisconfigured("the binlog cannot feed CDC: " + "; ".join(problems) +
                                  ". Set them in the server config (SET GLOBAL affects only new "
                                  "sessions) and restart the publisher.")


def master_status(conn: Connection) -> Checkpoint:
    """The current end of the binlog (a transaction boundary) with the server's GTID state."""
    try:
        row = _one(conn, "SHOW BINARY LOG STATUS")  # MySQL 8.4+
    except pymysql.err.ProgrammingError:
        row = _one(conn, "SHOW MASTER STATUS")
    if row is None:
        raise BinlogMisconfigured("SHOW MASTER STATUS is empty: the binlog is not enabled")
    gtid = _one(conn, "SELECT @@gtid_binlog_pos" if is_mariadb(conn) else
                "SELECT @@gtid_executed")
    return Checkpoint(str(row[0]), int(row[1]), str(gtid[0]) if gtid and gtid[0] else None)


def binary_logs(conn: Connection) -> list[str]:
    """Binlog files the server still has, oldest first."""
    return [str(r[0]) for r in _all(conn, "SHOW BINARY LOGS")]


def ensure_available(conn: Connection, checkpoint: Checkpoint) -> None:
    """Raise BinlogPurged when the checkpoint's file is no longer on the server."""
    files = binary_logs(conn)
    if checkpoint.file not in files:
        oldest = files[0] if files else "(none)"
        raise BinlogPurged(
            f"binlog file {checkpoint.file} of checkpoint {checkpoint} is no longer on the "
            f"server (oldest is {oldest}): changes after it were purged before they were "
            "published. Re-snapshot: `cdc_worker bootstrap --force` (records the current "
            "position, rebuilds the cache from MySQL, then the publisher streams from there), "
            "or set CDC_RESNAPSHOT_WHEN_PURGED=true to do it automatically.")


def json_columns(conn: Connection, schema: str, table: str, mariadb: bool) -> frozenset[str]:
    """Columns of a table that hold JSON (MariaDB stores JSON as text checked by json_valid)."""
    if mariadb:
        rows = _all(conn, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                          "WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s", (schema, table))
        return frozenset(m[1] for (clause,) in rows if (m := _JSON_CHECK.match(str(clause))))
    rows = _all(conn, "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                      "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND DATA_TYPE = 'json'",
                (schema, table))
    return frozenset(str(r[0]) for r in rows)


def tables(conn: Connection, schema: str) -> list[str]:
    """Base tables of a schema."""
    rows = _all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES "
                      "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
                (schema,))
    return [str(r[0]) for r in rows]
