"""Commit visibility: a batch reads MySQL only once its newest change is visible to a new snapshot.

MySQL and MariaDB hand a transaction's binlog events to replicas as soon as the binlog is
written, a moment *before* the storage engine commits it. An applier that read MySQL in that
moment would write the state before the change under the change's own fencing token, and
nothing would ever correct it: the change's event has been applied, and a later write of the
same car needs a later change. The applier reads milliseconds after the commit, so the window
is rarely open, but a committing thread descheduled on a loaded machine (or a server killed
between the two steps) holds it open for as long as it likes.

The committing transaction holds its row locks until its commit is visible, so a locking read
of one row it changed waits exactly as long as needed and no longer. Commits become visible in
binlog order (InnoDB commits in the binlog's order), so the batch's newest change stands for all
of them. The lock is a shared one on one row, held for one round trip; the wait is bounded: a
lock still held after `wait_s` belongs to a later transaction (ours committed long ago), so the
batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import pymysql
from carpages_shared import car_rows

log = logging.getLogger(__name__)

LOCK_WAIT_TIMEOUT = 1205


@dataclass(frozen=True)
class ChangedRow:
    """One row a change wrote: its table, primary key (column -> value) and fencing token."""

    table: str
    key: tuple[tuple[str, Any], ...]
    token: str


def changed_row(table: str, key: bytes | None, token: str) -> ChangedRow | None:
    """The row a message's key names (our `{"id": 5}`, or Debezium's, bare or wrapped in
    `{"schema", "payload"}`); None when the key cannot name a row."""
    if not key:
        return None
    try:
        doc = orjson.loads(key)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, Mapping) and "payload" in doc and "schema" in doc:
        doc = doc["payload"]
    if not isinstance(doc, Mapping) or not doc:
        return None
    if not all(isinstance(k, str) and isinstance(v, int | str) and not isinstance(v, bool)
               for k, v in doc.items()):
        return None
    return ChangedRow(table, tuple(sorted(doc.items())), token)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def locking_read(row: ChangedRow) -> tuple[str, list[Any]]:
    """The statement that waits for the row's writer: a shared lock on its primary key."""
    where = " AND ".join(f"{_quoted(column)} = %s" for column, _ in row.key)
    return (f"SELECT 1 FROM {_quoted(row.table)} WHERE {where} LOCK IN SHARE MODE",
            [value for _, value in row.key])


def wait_visible(conn: Any, row: ChangedRow, wait_s: int) -> bool:
    """Wait until the transaction that wrote `row` is visible to a new snapshot (at most
    `wait_s` seconds); False when the wait ran out. The caller ends the transaction (the lock
    goes with it) and reads in a new one."""
    # One round trip on the worker's multi-statement connections (this is on every batch).
    statements = [("SET SESSION innodb_lock_wait_timeout = %s", [wait_s]), locking_read(row)]
    try:
        car_rows.run_all(car_rows.connection_query(conn), statements)
    except pymysql.err.OperationalError as exc:
        if exc.args and exc.args[0] == LOCK_WAIT_TIMEOUT:
            log.info("%s %s still locked after %d s: read as is (a later transaction holds it)",
                     row.table, dict(row.key), wait_s)
            return False
        raise
    return True
